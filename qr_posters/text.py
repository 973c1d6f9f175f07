"""Fitting words into a box: greedy wrapping and shrinking until the text fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.pdfbase.pdfmetrics import stringWidth


@dataclass(frozen=True, slots=True)
class Block:
    """Wrapped lines of one paragraph at one size."""

    font: str
    size: float  # points
    lines: tuple[str, ...]
    leading: float  # points between baselines

    @property
    def height(self) -> float:
        return self.leading * len(self.lines)


# Kazakh writes its question particle apart from the word it asks about ("ұрды ма?",
# "жүр ме?"), and "ше" likewise; a line never begins with one: it stays with the word before.
_PARTICLES = frozenset({"ма", "ме", "ба", "бе", "па", "пе", "ше"})
_AFTER_WORD = '.,!?;:…»")'


def units(text: str) -> list[str]:
    """The words of `text`, with each particle joined to the word before it."""
    found: list[str] = []
    for word in text.split():
        if found and word.rstrip(_AFTER_WORD).lower() in _PARTICLES:
            found[-1] = f"{found[-1]} {word}"
        else:
            found.append(word)
    return found


def wrap(text: str, font: str, size: float, width: float) -> list[str] | None:
    """Greedy word wrap to `width` points; None if a single word (with its particle) is
    wider than that."""
    lines: list[str] = []
    current = ""
    for word in units(text):
        if stringWidth(word, font, size) > width:
            return None
        candidate = f"{current} {word}" if current else word
        if stringWidth(candidate, font, size) <= width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def balanced(text: str, font: str, size: float, width: float) -> list[str] | None:
    """Wrap into as few lines as greedy wrapping needs, but with lines of even length: no
    lone last word under a full line (the narrowest width that keeps the line count)."""
    lines = wrap(text, font, size, width)
    if lines is None or len(lines) < 2:
        return lines
    low, high = width / len(lines), width
    for _ in range(14):
        middle = (low + high) / 2
        trial = wrap(text, font, size, middle)
        if trial is not None and len(trial) == len(lines):
            high = middle
        else:
            low = middle
    return wrap(text, font, size, high)


def fit_blocks(
    texts: Sequence[str],
    font: str,
    sizes: Sequence[float],
    width: float,
    max_lines: int,
    leading: float = 1.18,
) -> list[Block]:
    """Wrap every text at the largest size (from `sizes`, largest first) at which all of them
    fit `max_lines` lines, so parallel columns share one size. The smallest size always
    returns, wrapping as far as needed (text is never silently cut)."""
    for size in sizes:
        wrapped = [balanced(text, font, size, width) for text in texts]
        if all(lines is not None and len(lines) <= max_lines for lines in wrapped):
            return [Block(font, size, tuple(lines or ()), size * leading) for lines in wrapped]
    size = sizes[-1]
    blocks = []
    for text in texts:
        lines = wrap(text, font, size, width)
        if lines is None:  # one very long word: break it by characters
            lines = _break_chars(text, font, size, width)
        blocks.append(Block(font, size, tuple(lines), size * leading))
    return blocks


def _break_chars(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for ch in text:
        if stringWidth(current + ch, font, size) > width and current:
            lines.append(current.rstrip())
            current = ch.lstrip()
        else:
            current += ch
    if current:
        lines.append(current)
    return lines


def steps(largest: float, smallest: float, step: float = 0.5) -> list[float]:
    """Font sizes from `largest` down to `smallest`."""
    count = int(round((largest - smallest) / step))
    return [largest - i * step for i in range(count + 1)]
