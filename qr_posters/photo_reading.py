"""The reading of a poster photo (qr_posters.photo says how), with Pillow and zxing-cpp;
imported only when a photo is read."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator

import zxingcpp
from PIL import Image, ImageChops, ImageFilter, ImageOps, UnidentifiedImageError

from qr_posters.photo import PhotoProblem, PhotoReading

MAX_PIXELS = 60_000_000  # a 60 MP photo is already beyond any phone's normal shot
WORK_SIDE = 2000  # longer side the photo is brought down to before reading
MIN_SIDE = 240  # a photo smaller than this cannot hold a readable poster code
GLARE_LEVEL = 250
GLARE_TILES = 6  # of 32 x 32: about half a percent of the picture blown out
_QR_CODES = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # what we look for


def read(image_bytes: bytes) -> PhotoReading:
    image = _load(image_bytes)
    if image is None:
        return PhotoReading((), PhotoProblem.NOT_AN_IMAGE)
    for prepared in _passes(image):
        texts = _read(prepared)
        if texts:
            return PhotoReading(texts)
    return PhotoReading((), _diagnose(image))


def _load(image_bytes: bytes) -> Image.Image | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(image_bytes))
            width, height = image.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                return None
            image.draft("L", (WORK_SIDE, WORK_SIDE))  # JPEG: decode at a reduced scale
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "P"):
                # A transparent background reads as black; put the picture on white.
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(canvas, rgba)
            gray = image.convert("L")
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        UnidentifiedImageError,
    ):
        return None
    if max(gray.size) > WORK_SIDE:
        gray.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return gray


def _passes(gray: Image.Image) -> Iterator[Image.Image]:
    yield gray
    steps: list[Callable[[Image.Image], Image.Image]] = [
        lambda im: ImageOps.autocontrast(im, cutoff=1),
        _flatten_light,
        lambda im: ImageOps.autocontrast(
            im.filter(ImageFilter.UnsharpMask(radius=3, percent=200, threshold=2)), cutoff=1
        ),
    ]
    small = min(gray.size) < 1000
    for step in steps:
        prepared = step(gray)
        yield prepared
        if small:
            # A far-away poster: more pixels per module help the finder patterns stand out.
            yield prepared.resize(
                (prepared.width * 2, prepared.height * 2), Image.Resampling.LANCZOS
            )


def _flatten_light(gray: Image.Image) -> Image.Image:
    """Divide out slow changes of light (glare, shadow) so that only the print remains."""
    radius = max(8, min(gray.size) // 25)
    background = gray.filter(ImageFilter.BoxBlur(radius))
    # Dark print on lighter background: how much darker than its surroundings each pixel is.
    darker = ImageChops.subtract(background, gray, scale=1.0, offset=0)
    return ImageOps.autocontrast(ImageOps.invert(darker), cutoff=1)


def _read(image: Image.Image) -> tuple[str, ...]:
    found = zxingcpp.read_barcodes(
        image,
        formats=_QR_CODES,
        try_rotate=True,
        try_downscale=True,
        try_invert=True,
    )
    texts: list[str] = []
    for barcode in found:
        if barcode.valid and barcode.text and barcode.text not in texts:
            texts.append(barcode.text)
    return tuple(texts)


def _diagnose(gray: Image.Image) -> PhotoProblem:
    if min(gray.size) < MIN_SIDE:
        return PhotoProblem.TOO_SMALL
    broken = [
        b
        for b in zxingcpp.read_barcodes(
            ImageOps.autocontrast(gray, cutoff=1),
            formats=_QR_CODES,
            return_errors=True,
        )
        if not b.valid
    ]
    if _has_bright_patch(gray):
        return PhotoProblem.GLARE
    if broken:
        side = max(_span(b.position) for b in broken)
        if side < 21 * 2:  # under two pixels a module for the smallest QR version
            return PhotoProblem.TOO_SMALL
        return PhotoProblem.DAMAGED
    return PhotoProblem.NO_CODE


def _has_bright_patch(gray: Image.Image) -> bool:
    """Glare is a blown-out patch among ordinary tones: look at coarse tiles of the photo."""
    tiles = list(gray.resize((32, 32), Image.Resampling.BOX).tobytes())
    blown = sum(1 for v in tiles if v >= GLARE_LEVEL)
    return blown >= GLARE_TILES and min(tiles) < 200 and blown < len(tiles) // 2


def _span(position: zxingcpp.Position) -> float:
    xs = [
        position.top_left.x,
        position.top_right.x,
        position.bottom_left.x,
        position.bottom_right.x,
    ]
    ys = [
        position.top_left.y,
        position.top_right.y,
        position.bottom_left.y,
        position.bottom_right.y,
    ]
    return float(max(max(xs) - min(xs), max(ys) - min(ys)))
