"""A student's photo or document reaches staff without its name or its metadata.

A file is never sent to staff again by its file id (that sends the very bytes, under the
name the student's phone gave it: a child's name and class, EXIF with GPS). A relay names the
file with a `clean` marker instead; when the sender sends the row, it downloads the file
(getFile, at most 20 MB for a bot), and uploads what `cleaned` makes of it:

- an image (a photo, or a document that is a JPEG, PNG, WebP, GIF, BMP or TIFF) is decoded,
  turned upright by its EXIF orientation, and encoded again from its pixels only: no EXIF,
  GPS, XMP, comments or thumbnails survive;
- every file is named "file-#7KQ2-M9XD-3.pdf": the case, the message's number in it, and
  the extension only when it is on a short list of ordinary document types.

A file Telegram will not let a bot download (too big) or that cannot be decoded is not sent
at all: `FileNotPassed`, which the sender records as a refusal, so the student is told
(bot.delivery.undelivered) and the case goes on.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.types import BufferedInputFile

from bot.delivery.notices import Media
from bot.domain import ContentKind

CLEAN = "$clean"
# Telegram's limits for bots (https://core.telegram.org/bots/api#sending-files).
DOWNLOAD_LIMIT = 20 * 1024 * 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
PHOTO_SIDE = 2560  # a photo Telegram shows is at most this wide anyway
# Kept as they are (content untouched, name neutral).
SAFE_EXTENSIONS = frozenset(
    (".pdf", ".txt", ".doc", ".docx", ".odt", ".rtf", ".xls", ".xlsx", ".ods", ".csv")
)
IMAGE_EXTENSIONS = frozenset(
    (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif")
)
CLEANED_KINDS = frozenset((ContentKind.PHOTO, ContentKind.DOCUMENT))

# Why a file was not passed on (bot.delivery.undelivered tells the student).
FILE_TOO_BIG = "file_too_big"
FILE_UNREADABLE = "file_unreadable"


class FileNotPassed(TelegramBadRequest):
    """The file cannot be passed on cleaned: it is not sent (a refusal, never retried)."""

    def __init__(self, method: TelegramMethod[Any], reason: str) -> None:
        super().__init__(method=method, message=reason)
        self.reason = reason


def neutral_stem(code: str, number: int) -> str:
    """ "file-#7KQ2-M9XD-3": what the file is called for staff."""
    return f"file-{code}-{number}"


def student_file(kind: str, file_id: str, code: str, number: int) -> Media | None:
    """The Media a relay of a student's photo or document sends: cleaned when sent. None
    for the other kinds (sent again by file id as before)."""
    if kind not in CLEANED_KINDS:
        return None
    param = "photo" if kind == ContentKind.PHOTO else "document"
    method = "sendPhoto" if kind == ContentKind.PHOTO else "sendDocument"
    marker = {CLEAN: file_id, "name": neutral_stem(code, number), "kind": kind}
    return Media(method, {param: marker})


class CleanedFile(BufferedInputFile):
    """A file to download and clean just before it is uploaded (`fetch`)."""

    def __init__(self, file_id: str, stem: str, kind: str) -> None:
        super().__init__(b"", filename=stem)
        self.file_id = file_id
        self.stem = stem
        self.kind = kind
        self.fetched = False


def marked(value: Any) -> bool:
    return isinstance(value, Mapping) and CLEAN in value


def from_marker(value: Mapping[str, Any]) -> CleanedFile:
    return CleanedFile(str(value[CLEAN]), str(value["name"]), str(value["kind"]))


def cleaned(data: bytes, suffix: str, kind: str, stem: str) -> tuple[bytes, str]:
    """The bytes and name to upload for a downloaded file: images re-encoded without
    metadata, other documents as they are under a neutral name. Raises ValueError for an
    image that cannot be decoded."""
    suffix = suffix.lower()
    if kind == ContentKind.PHOTO or suffix in IMAGE_EXTENSIONS or looks_like_image(data):
        image, extension = reencoded(data, photo=kind == ContentKind.PHOTO)
        return image, stem + extension
    return data, stem + (suffix if suffix in SAFE_EXTENSIONS else "")


# The first bytes of image files, whatever their name says (a JPEG sent as "scan" or
# "scan.pdf" keeps its EXIF just the same).
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(data: bytes) -> bool:
    if data.startswith(IMAGE_MAGIC):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif")


def reencoded(data: bytes, *, photo: bool) -> tuple[bytes, str]:
    """An image's pixels only, upright, as JPEG (PNG when it has transparency)."""
    # Pillow on the first file only: most updates carry none (issue 17, memory at start).
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as source:
            source.load()
            upright = ImageOps.exif_transpose(source)
            keep_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            if photo and max(upright.size) > PHOTO_SIDE:
                upright.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
            if keep_alpha and not photo:
                pixels, fmt, extension = upright.convert("RGBA"), "PNG", ".png"
            else:
                pixels, fmt, extension = upright.convert("RGB"), "JPEG", ".jpg"
            # A fresh image from the pixels: nothing of the source's info goes along.
            bare = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
            out = io.BytesIO()
            bare.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    except (
        OSError,
        SyntaxError,
        ValueError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValueError("not an image Pillow can decode") from exc
    return out.getvalue(), extension


async def fetch(bot: Bot, method: TelegramMethod[Any]) -> None:
    """Download and clean the `CleanedFile`s of a request (in place), or raise
    `FileNotPassed`."""
    for name in ("photo", "document"):
        upload = getattr(method, name, None)
        if not isinstance(upload, CleanedFile) or upload.fetched:
            continue
        try:
            found = await bot.get_file(upload.file_id)
        except TelegramBadRequest as exc:
            reason = FILE_TOO_BIG if "too big" in exc.message.lower() else FILE_UNREADABLE
            raise FileNotPassed(method, reason) from exc
        if (found.file_size or 0) > DOWNLOAD_LIMIT or not found.file_path:
            raise FileNotPassed(method, FILE_TOO_BIG)
        buffer = io.BytesIO()
        await bot.download_file(found.file_path, buffer)
        suffix = PurePosixPath(found.file_path).suffix
        try:
            data, filename = cleaned(buffer.getvalue(), suffix, upload.kind, upload.stem)
        except ValueError as exc:
            raise FileNotPassed(method, FILE_UNREADABLE) from exc
        if name == "photo" and len(data) > PHOTO_UPLOAD_LIMIT:
            raise FileNotPassed(method, FILE_TOO_BIG)
        upload.data, upload.filename, upload.fetched = data, filename, True
