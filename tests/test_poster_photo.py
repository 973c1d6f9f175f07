"""Reading posters from phone photos: the synthetic classroom wall."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import qrcode
from PIL import Image, ImageDraw, ImageEnhance

from qr_posters.photo import PhotoProblem, decode_poster_photo, read_poster_photo
from qr_posters.render import render_posters
from tests.poster_fakes import (
    KK,
    RU,
    blur,
    cover,
    glare,
    link,
    noise,
    on_wall,
    perspective,
    rasterise_pdf,
    rotate,
    sheet,
    to_jpeg,
    to_png,
)


@pytest.fixture(scope="module")
def page() -> Image.Image:
    pdf = render_posters(sheet(1, texts=(KK, RU), numbers=("111", "150", "112")))
    return rasterise_pdf(pdf, 100)[0]


PHOTOS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "straight": lambda p: on_wall(p, 1.0),
    "from the back of the room": lambda p: on_wall(p, 0.3),
    "tilted": lambda p: rotate(on_wall(p, 0.8), 17),
    "sideways": lambda p: rotate(on_wall(p, 0.8), 90),
    "upside down": lambda p: rotate(on_wall(p, 0.8), 183),
    "from the side": lambda p: perspective(on_wall(p, 0.9), 0.12),
    "from the side, tilted": lambda p: rotate(perspective(on_wall(p, 0.9), 0.08), -8),
    "shaky": lambda p: blur(on_wall(p, 0.8), 2.0),
    "very shaky": lambda p: blur(on_wall(p, 0.8), 3.5),
    "sticker on the code": lambda p: cover(on_wall(p, 0.8), (0.47, 0.44, 0.53, 0.50)),
    "torn corner": lambda p: cover(on_wall(p, 0.8), (0.0, 0.0, 0.5, 0.3)),
    "window reflection": lambda p: glare(on_wall(p, 0.8), (0.55, 0.42), 0.1, 0.85),
    "dim and noisy": lambda p: noise(on_wall(p, 0.6).point(lambda v: v // 2)),
    # Washed out to a few grey levels: zxing alone misses it, stretched contrast reads it.
    "washed out": lambda p: ImageEnhance.Contrast(on_wall(p, 0.8)).enhance(0.06),
}


@pytest.mark.parametrize("name", list(PHOTOS))
def test_photographed_poster_reads(page: Image.Image, name: str) -> None:
    photo = PHOTOS[name](page)
    reading = read_poster_photo(to_jpeg(photo))
    assert reading.texts == (link(0),), name
    assert reading.problem is None


def test_png_with_transparency(page: Image.Image) -> None:
    rgba = on_wall(page, 0.5).convert("RGBA")
    rgba.putalpha(255)
    assert decode_poster_photo(to_png(rgba)) == [link(0)]


def test_two_posters_in_one_photo(page: Image.Image) -> None:
    other = rasterise_pdf(render_posters(sheet(2)), 100)[1]
    wall = Image.new("RGB", (page.width * 2 + 60, page.height + 40), (160, 170, 160))
    wall.paste(page, (20, 20))
    wall.paste(other, (page.width + 40, 20))
    assert sorted(decode_poster_photo(to_jpeg(wall))) == sorted([link(0), link(1)])


def test_no_code_at_all() -> None:
    image = Image.new("RGB", (1200, 900), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.rectangle((50 + i * 90, 100, 100 + i * 90, 700), fill=(60 + i * 10, 80, 90))
    reading = read_poster_photo(to_jpeg(image))
    assert reading.texts == ()
    assert reading.problem is PhotoProblem.NO_CODE


def test_code_of_another_site_is_read_as_is() -> None:
    image = qrcode.make("https://example.com/promo?id=7", box_size=12).get_image()
    photo = on_wall(image.convert("RGB"), 0.8)
    assert decode_poster_photo(to_jpeg(photo)) == ["https://example.com/promo?id=7"]


def test_too_small(page: Image.Image) -> None:
    reading = read_poster_photo(to_jpeg(on_wall(page, 0.08)))
    assert reading.texts == ()
    assert reading.problem is PhotoProblem.TOO_SMALL


def test_damaged(page: Image.Image) -> None:
    # A quarter of the code's width torn away in its middle: past what level M recovers.
    photo = cover(on_wall(page, 0.8), (0.42, 0.40, 0.58, 0.52))
    reading = read_poster_photo(to_jpeg(photo))
    assert reading.texts == ()
    assert reading.problem is PhotoProblem.DAMAGED


def test_blown_out_by_glare(page: Image.Image) -> None:
    photo = glare(on_wall(page, 0.8), (0.5, 0.45), 0.14, 1.0)
    reading = read_poster_photo(to_jpeg(photo))
    assert reading.texts == ()
    assert reading.problem is PhotoProblem.GLARE


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, b"\xff\xd8\xff" + b"\x00" * 99],
)
def test_not_an_image(data: bytes) -> None:
    reading = read_poster_photo(data)
    assert reading == read_poster_photo(data)
    assert reading.texts == ()
    assert reading.problem is PhotoProblem.NOT_AN_IMAGE
    assert decode_poster_photo(data) == []


def test_decompression_bomb_is_refused() -> None:
    # 100 megapixels: refused from the header, before anything is decoded.
    huge = Image.new("1", (10_000, 10_000))
    data = to_png(huge)
    assert read_poster_photo(data).problem is PhotoProblem.NOT_AN_IMAGE
