"""Reading QR codes from a phone photo of a poster on a wall.

zxing-cpp reads most photos as they come. What it misses, a few cheap Pillow passes often
rescue: stretched contrast for dim rooms, an upscale for a poster far away, a flattened
background for glare and shadows, sharpening for a shaky hand. When nothing reads, we say
why as well as we can tell (damaged, too small, glare), so staff know what to do next.

This module holds what callers name (the reading, its problems); the reading itself, with
Pillow and zxing-cpp, is `qr_posters.photo_reading`, imported on the first photo: the bot
imports this package at start (the staff handlers) and need not carry them until a staff
member checks a poster (issue 17, memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PhotoProblem(StrEnum):
    NOT_AN_IMAGE = "not_an_image"
    NO_CODE = "no_code"  # nothing like a QR code in the picture
    DAMAGED = "damaged"  # a QR code is there but its modules do not add up
    TOO_SMALL = "too_small"  # the code is too few pixels across
    GLARE = "glare"  # large blown-out areas


@dataclass(frozen=True, slots=True)
class PhotoReading:
    """Texts of the QR codes read (in reading order, no repeats), or why none could be."""

    texts: tuple[str, ...]
    problem: PhotoProblem | None = None


def decode_poster_photo(image_bytes: bytes) -> list[str]:
    """The texts of every QR code readable in the photo; empty if none."""
    return list(read_poster_photo(image_bytes).texts)


def read_poster_photo(image_bytes: bytes) -> PhotoReading:
    """Read a photo (JPEG, PNG, WebP, …); never raises on bad input."""
    from qr_posters import photo_reading  # Pillow and zxing-cpp: on the first photo only

    return photo_reading.read(image_bytes)
