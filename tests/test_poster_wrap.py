"""Poster line wrapping: a Kazakh question particle (ма/ме/ба/бе/па/пе) or "ше" never starts
a line; it stays with the word it asks about."""

from __future__ import annotations

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth

from qr_posters.fonts import REGULAR, register_fonts
from qr_posters.text import balanced, fit_blocks, units, wrap

KK_PURPOSE = (
    "Сені біреу ренжітті ме, ұрды ма, қорқытты ма, әлде жай ғана көңілің түсіп жүр ме? Бізге жаз."
)
PARTICLES = {"ма", "ме", "ба", "бе", "па", "пе", "ше"}


def _starts_with_particle(line: str) -> bool:
    first = line.split()[0].rstrip('.,!?;:…»")').lower()
    return first in PARTICLES


def test_units_keep_the_particle_with_its_word() -> None:
    assert units(KK_PURPOSE)[2:5] == ["ренжітті ме,", "ұрды ма,", "қорқытты ма,"]
    assert units("Сен қайдасың? Мектепте ме? Үйде бе?")[2:] == ["Мектепте ме?", "Үйде бе?"]
    # Not a particle: longer words that begin the same way stay apart.
    assert units("Мен мектепке барамын") == ["Мен", "мектепке", "барамын"]


@pytest.mark.parametrize("width", [float(w) for w in range(60, 400, 7)])
def test_no_line_starts_with_a_particle(width: float) -> None:
    register_fonts()
    for wrapper in (wrap, balanced):
        lines = wrapper(KK_PURPOSE, REGULAR, 12, width)
        if lines is None:  # a unit wider than the box: fit_blocks breaks by characters
            continue
        assert " ".join(lines) == " ".join(KK_PURPOSE.split())  # nothing lost or moved
        assert not any(_starts_with_particle(line) for line in lines), lines
        # Greedy wrapping without the rule would have put a particle first at some widths;
        # with it, every line still fits.
        assert all(stringWidth(line, REGULAR, 12) <= width for line in lines)


def test_the_rule_matters_at_some_width() -> None:
    """Plain word wrapping does start a line with a particle somewhere in this range, so the
    test above is not vacuous."""
    register_fonts()

    def plain(width: float) -> list[str]:
        lines: list[str] = []
        current = ""
        for word in KK_PURPOSE.split():
            candidate = f"{current} {word}" if current else word
            if stringWidth(candidate, REGULAR, 12) <= width or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
        return [*lines, current]

    assert any(
        _starts_with_particle(line) for w in range(60, 400, 7) for line in plain(float(w))[1:]
    )


def test_fit_blocks_keeps_particles_with_their_words() -> None:
    register_fonts()
    blocks = fit_blocks([KK_PURPOSE], REGULAR, [14, 12, 10], 150, 6)
    assert not any(_starts_with_particle(line) for line in blocks[0].lines)
