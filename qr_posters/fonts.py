"""The poster typeface: PT Sans, shipped by the `fontpkg-pt-sans` wheel.

ParaType drew PT Sans for the languages of Russia and its neighbours, so it has every Kazakh
and Kyrgyz letter (ә ғ қ ң ө ұ ү һ і). It comes from a PyPI dependency, never from a system
font path, so a poster renders the same on a laptop, a server and CI.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import fontpkg_pt_sans
from fontTools import subset
from fontTools.ttLib import TTFont as FontToolsFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "TrustLinePTSans"
BOLD = "TrustLinePTSans-Bold"

_FILES = {
    REGULAR: "PT_Sans-Web-Regular.ttf",
    BOLD: "PT_Sans-Web-Bold.ttf",
}

# Letters of the Kazakh and Kyrgyz alphabets beyond Russian, both cases.
KAZAKH_KYRGYZ_LETTERS = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"

_lock = threading.Lock()
_registered = threading.Event()


def font_path(name: str) -> Path:
    """The TTF file behind one of our font names."""
    return Path(fontpkg_pt_sans.ROOT) / "files" / _FILES[name]


def register_fonts() -> None:
    """Register the poster fonts with reportlab once per process."""
    if _registered.is_set():
        return
    with _lock:
        if _registered.is_set():  # another thread registered them while we waited
            return
        for name in _FILES:
            pdfmetrics.registerFont(TTFont(name, _unhinted(font_path(name))))
        _registered.set()


# Latin, Cyrillic with its supplement (all Kazakh and Kyrgyz letters), punctuation, № and ₸.
_KEPT = [
    *range(0x20, 0x250),
    *range(0x400, 0x530),
    *range(0x2000, 0x2070),
    0x20B8,
    0x2116,
]


def _unhinted(path: Path) -> io.BytesIO:
    """The font without TrueType hinting and without scripts we never print.

    Hinting is for screens at small sizes; on a printed poster it only makes every embedded
    subset about twice as large, and a one-page PDF must stay small enough to send in a chat.
    """
    font = FontToolsFont(str(path))
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_KEPT)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    buffer.seek(0)
    return buffer


def missing_glyphs(text: str, name: str = REGULAR) -> set[str]:
    """Characters of `text` (spaces aside) that the font has no glyph for."""
    register_fonts()
    face = pdfmetrics.getFont(name).face
    cmap: dict[int, int] = face.charToGlyph
    return {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}
