"""Classroom posters: QR codes, PDF and fonts; a pure function from data to bytes.

Nothing here touches the database, Telegram or gettext: the caller passes every text already
translated, and gets PDF bytes (or the texts of QR codes in a photo) back.
"""

from qr_posters.classes import ClassListError, ClassListProblem, parse_class_list
from qr_posters.model import PosterDataError, PosterPage, PosterSheet, PosterText
from qr_posters.photo import PhotoProblem, PhotoReading, decode_poster_photo, read_poster_photo

# Rendering (reportlab, fontTools, numpy, qrcode) is loaded on first use, so a process that
# imports this package for class lists or photos does not carry it (the bot: ~30 MB).
_LAZY = {"QRVerificationError": "qr_posters.qr", "render_posters": "qr_posters.render"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qr_posters' has no attribute {name!r}")


__all__ = [
    "ClassListError",
    "ClassListProblem",
    "PhotoProblem",
    "PhotoReading",
    "PosterDataError",
    "PosterPage",
    "PosterSheet",
    "PosterText",
    "QRVerificationError",
    "decode_poster_photo",
    "parse_class_list",
    "read_poster_photo",
    "render_posters",
]
