"""Long texts in Telegram-sized parts, measured as Telegram measures: UTF-16 code units.

Telegram refuses a message over 4,096 and a caption over 1,024 UTF-16 code units (an emoji
outside the Basic Multilingual Plane counts 2). Rather than cut a child's words, a long text
is split at a paragraph break, else a line break, else the end of a sentence, else a space,
and only a single unbroken run longer than a whole part is cut inside (never inside a
surrogate pair, and not before a combining mark or a zero-width joiner). The whitespace at a
cut is the only thing dropped, so the parts put back together give the text again.

Parts carry their header (a label such as "💬 The psychologist:") and, when there are
several, their number, "(2/3)", inside the limit. `messages` turns a text (with or without a
file) into the Bot API calls that carry it whole, to be queued in order. Pure functions, no
I/O.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TEXT_LIMIT = 4096  # sendMessage, editMessageText
CAPTION_LIMIT = 1024  # sendPhoto, sendDocument, copyMessage... (bots are never Premium)
# Below this many units for the text itself a part could not say much: a header that leaves
# less is a programming error, not something to send.
MIN_BODY = 32
_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = frozenset(".!?…。！？؟")
_CLOSERS = frozenset("\"')]}»”’›")
_ZWJ = "\u200d"
# How far a hard cut may move back to keep a character and its marks together.
_MAX_BACKOFF = 32


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _unit_offsets(text: str) -> list[int]:
    """offsets[k] = UTF-16 units of text[:k]."""
    offsets = [0] * (len(text) + 1)
    total = 0
    for index, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        offsets[index + 1] = total
    return offsets


def _splits_pair(text: str, index: int) -> bool:
    """Whether text[index - 1:index + 1] is a surrogate pair held as two code points."""
    return 0xDC00 <= ord(text[index]) <= 0xDFFF and 0xD800 <= ord(text[index - 1]) <= 0xDBFF


def _joins_previous(text: str, index: int) -> bool:
    """Whether cutting just before text[index] would tear one visible character apart."""
    char, before = text[index], text[index - 1]
    if _splits_pair(text, index):
        return True
    if char == _ZWJ or before == _ZWJ:
        return True
    if 0xFE00 <= ord(char) <= 0xFE0F or 0x1F3FB <= ord(char) <= 0x1F3FF:
        return True  # variation selectors, skin tones
    return unicodedata.combining(char) != 0


def _sentence_ends_before(text: str, index: int, start: int) -> bool:
    at = index - 1
    while at > start and text[at] in _CLOSERS:
        at -= 1
    return text[at] in _SENTENCE_END


def _boundary(text: str, start: int, end: int, limit: int, offsets: list[int]) -> int:
    """Where to end a part that starts at `start` and may reach `end` (exclusive): the best
    boundary, as a position of the whitespace run that follows the part."""
    best: dict[int, int] = {}  # rank -> last position (0 paragraph, 1 line, 2 sentence, 3 word)
    # A whitespace run may begin anywhere in (start, end]; include text[end] to see it.
    window_end = min(end + 1, len(text))
    for match in _WHITESPACE.finditer(text, start + 1, window_end):
        position = match.start()
        run = _WHITESPACE.match(text, position)
        assert run is not None
        newlines = run.group().count("\n")
        if newlines >= 2:
            rank = 0
        elif newlines == 1:
            rank = 1
        elif _sentence_ends_before(text, position, start):
            rank = 2
        else:
            rank = 3
        best[rank] = position
    # The best kind of boundary that still fills at least half the part; a short part only
    # when nothing better exists, and a cut inside a word only for a word longer than that.
    half = offsets[start] + limit // 2
    for rank in range(4):
        found = best.get(rank)
        if found is not None and offsets[found] >= half:
            return found
    if best:
        return max(best.values())
    cut = end
    while cut > start + 1 and end - cut < _MAX_BACKOFF and _joins_previous(text, cut):
        cut -= 1
    if _joins_previous(text, cut):  # one long cluster: cut it, but never inside a pair
        cut = end - 1 if _splits_pair(text, end) else end
    return cut


@dataclass(frozen=True, slots=True)
class Piece:
    """A part's text and the whitespace dropped after it (the text is every piece's
    `before + body + after`, in order)."""

    before: str
    body: str
    after: str


def pieces(text: str, limit: int, first_limit: int | None = None) -> list[Piece]:
    """`text` split into bodies of at most `limit` UTF-16 units (the first one at most
    `first_limit`), none empty or blank; only whitespace at the cuts and at both ends is left
    out of the bodies, kept in `before`/`after`."""
    if limit < 2 or (first_limit is not None and first_limit < 2):
        raise ValueError("a part must hold at least one character of two units")
    offsets = _unit_offsets(text)
    result: list[Piece] = []
    position, length = 0, len(text)
    while True:
        lead = _WHITESPACE.match(text, position)
        start = lead.end() if lead else position
        if start >= length:
            if result:
                last = result[-1]
                result[-1] = Piece(last.before, last.body, last.after + text[position:])
            return result
        room = first_limit if (first_limit is not None and not result) else limit
        end = bisect_right(offsets, offsets[start] + room) - 1
        if end >= length:
            cut = length
        else:
            cut = _boundary(text, start, end, room, offsets)
        body = text[start:cut]
        stripped = body.rstrip()
        tail = len(body) - len(stripped)
        # The whitespace run after the part: dropped, like the one inside the body's end.
        run = _WHITESPACE.match(text, cut)
        after_end = run.end() if run else cut
        result.append(
            Piece(
                text[position:start],
                stripped,
                text[cut - tail : after_end] if tail else text[cut:after_end],
            )
        )
        position = after_end


def split(text: str, limit: int = TEXT_LIMIT, first_limit: int | None = None) -> list[str]:
    """The bodies of `pieces`: a text in parts, none empty, each within its limit."""
    return [piece.body for piece in pieces(text, limit, first_limit)]


def shorten(text: str, limit: int) -> str:
    """The start of `text` within `limit` units, cut where `split` would cut and ended with
    "…" when something is left out. For a preview only, never for what a message carries."""
    if utf16_len(text) <= limit:
        return text.strip()
    # Only the first part is wanted: a head one character past the limit decides it.
    head = pieces(text[: limit + 1], limit - 1)
    return f"{head[0].body}…" if head else ""


def _numbered(header: str, number: int, total: int) -> str:
    if total == 1:
        return header
    mark = f"({number}/{total})"
    return f"{header} {mark}" if header else mark


def _overhead(header: str, digits: int) -> int:
    """Units taken by a header numbered "(k/n)" with `digits`-digit numbers, and the line
    break after it."""
    widest = int("9" * digits)
    return utf16_len(_numbered(header, widest, widest)) + 1


def _body_room(limit: int, overhead: int) -> int:
    room = limit - overhead
    if room < MIN_BODY:
        raise ValueError("the header leaves no room for the text")
    return room


def compose(
    text: str,
    limit: int = TEXT_LIMIT,
    *,
    header: str = "",
    first_limit: int | None = None,
) -> list[str]:
    """`text` as messages of at most `limit` units (the first at most `first_limit`, e.g. a
    caption followed by texts), each starting with `header` and, when there are several,
    its number: "header (2/3)\\ntext". A text that fits is returned as one part, unchanged;
    a blank text gives the header alone (or nothing without a header)."""
    if not text.strip():
        return [header] if header else []
    whole = f"{header}\n{text}" if header else text
    if utf16_len(whole) <= (first_limit if first_limit is not None else limit):
        return [whole]
    digits = 1
    while True:
        overhead = _overhead(header, digits)
        room = _body_room(limit, overhead)
        first_room = _body_room(first_limit, overhead) if first_limit is not None else None
        bodies = split(text, room, first_room)
        if len(bodies) < 10**digits:
            break
        digits += 1
    total = len(bodies)
    return [f"{_numbered(header, k, total)}\n{body}" for k, body in enumerate(bodies, 1)]


def pack(
    blocks: Sequence[str],
    limit: int = TEXT_LIMIT,
    *,
    header: str = "",
    joiner: str = "\n",
) -> list[str]:
    """Pages of at most `limit` units holding `blocks` (lines of a history, say) in order:
    as many whole blocks on a page as fit, a block split (as `split` does) only when it is
    longer than a page. With several pages each starts with `header` and its number; a
    single page is the blocks joined, unchanged. Blank blocks are kept as spacing inside a
    page and dropped at a page's start."""
    joined = joiner.join(blocks)
    if not joined.strip():
        return [header] if header else []
    if utf16_len(joined) <= limit:
        return [joined]
    digits = 1
    while True:
        room = _body_room(limit, _overhead(header, digits))
        pages = _pack_bodies(blocks, room, joiner)
        if len(pages) < 10**digits:
            break
        digits += 1
    total = len(pages)
    return [f"{_numbered(header, k, total)}\n{page}" for k, page in enumerate(pages, 1)]


def _pack_bodies(blocks: Sequence[str], room: int, joiner: str) -> list[str]:
    pages: list[str] = []
    current = ""
    joiner_units = utf16_len(joiner)

    def close_page() -> None:
        nonlocal current
        if current.strip():
            pages.append(current.rstrip())
        current = ""

    for block in blocks:
        if not current.strip():
            current = ""
        if not block.strip() and (not current or utf16_len(block) > room):
            continue  # nothing to space out at the top of a page, nor with a page of blanks
        candidate = f"{current}{joiner}{block}" if current else block
        if utf16_len(candidate) <= room:
            current = candidate
            continue
        if utf16_len(block) <= room:
            close_page()
            current = block
            continue
        # A block longer than a page: it fills what is left of this page when that is a fair
        # share, then runs over as many pages as it needs.
        left = room - utf16_len(current) - joiner_units if current else room
        if current and left < room // 4:
            close_page()
            left = room
        parts = split(block, room, left)
        current = f"{current}{joiner}{parts[0]}" if current else parts[0]
        for part in parts[1:]:
            close_page()
            current = part
    close_page()
    return pages


Call = tuple[str, dict[str, Any]]  # a Bot API method and its parameters


def messages(
    text: str,
    *,
    header: str = "",
    media: Call | None = None,
    captioned: bool = True,
) -> list[Call]:
    """The calls, in order, that deliver `text` whole under `header`.

    Without `media`: numbered `sendMessage` parts. With `media` (a method and its
    parameters, e.g. ("sendPhoto", {"photo": file_id})): the file carries the first part as
    its caption (within 1024 units) and the rest follow as text messages; a file that takes
    no caption (`captioned` False: a sticker, a video note) comes after the text parts, or
    after the header alone."""
    if media is None:
        return [("sendMessage", {"text": part}) for part in compose(text, header=header)]
    method, params = media
    if not captioned:
        texts = [("sendMessage", {"text": part}) for part in compose(text, header=header)]
        return [*texts, (method, dict(params))]
    parts = compose(text, TEXT_LIMIT, header=header, first_limit=CAPTION_LIMIT)
    first = {**params, "caption": parts[0]} if parts else dict(params)
    return [(method, first), *(("sendMessage", {"text": part}) for part in parts[1:])]
