"""Poster fixtures for tests: translated texts, sheets, page rasters and synthetic photos.

A "photo" here is a rendered poster page put through what a phone and a classroom do to it:
distance (scale), a tilted hand (rotation, perspective), shake (blur), a sticker or a hand
over part of it (cover), a window's reflection (glare), sensor noise and JPEG.
"""

from __future__ import annotations

import io
import random

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFilter

from qr_posters.model import PosterPage, PosterSheet, PosterText

KY = PosterText(
    headline="Сен жалгыз эмессиң",
    purpose=(
        "Сени бирөө кордосо, коркутса же жүрөгүң ооруса — бизге жаз.",
        "Атыңды эч ким билбейт. Психолог ушул чатта жооп берет.",
    ),
    scan_hint="Телефонуңдун камерасын кодго кармап, же Telegram'дан бизге жаз:",
    call_label="Акысыз, күнү-түнү чал",
)
KK = PosterText(
    headline="Сен жалғыз емессің",
    purpose=(
        "Біреу сені ренжітсе, қорқытса немесе саған қиын болса — бізге жаз.",
        "Сенің кім екеніңді ешкім білмейді. Психолог осы чатта жауап береді.",
    ),
    scan_hint="Телефон камерасын кодқа бағытта немесе Telegram-да бізге жаз:",
    call_label="Тегін, тәулік бойы қоңырау шал",
)
RU = PosterText(
    headline="Ты не один",
    purpose=(
        "Если тебя обижают, пугают или тебе тяжело — напиши нам.",
        "Никто не узнает, кто ты. Психолог ответит здесь же, в чате.",
    ),
    scan_hint="Наведи камеру телефона на код или напиши в Telegram:",
    call_label="Звони бесплатно, круглосуточно",
)
BOT = "TrustLineKgBot"


def link(i: int) -> str:
    return f"https://t.me/{BOT}?start=pTESTtoken{i:07d}"


def sheet(
    count: int = 3,
    paper: str = "a4",
    texts: tuple[PosterText, ...] = (KY, RU),
    numbers: tuple[str, ...] = ("111", "112"),
) -> PosterSheet:
    pages = tuple(
        PosterPage(
            classroom=f"{5 + i // 3}{'АБВ'[i % 3]}", poster_code=f"P-{i + 1:04d}", link=link(i)
        )
        for i in range(count)
    )
    return PosterSheet(
        school_name="Мектеп-гимназия №12, Бишкек",
        bot_username=BOT,
        paper=paper,  # type: ignore[arg-type]
        texts=texts,
        emergency_numbers=numbers,
        pages=pages,
    )


def rasterise_pdf(pdf: bytes, dpi: float) -> list[Image.Image]:
    """Every page of a PDF as an RGB image, by pdfium (no system tools needed)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [
            document[i].render(scale=dpi / 72).to_pil().convert("RGB")
            for i in range(len(document))
        ]
    finally:
        document.close()


def to_jpeg(image: Image.Image, quality: int = 82) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def to_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def on_wall(page: Image.Image, scale: float, seed: int = 0) -> Image.Image:
    """The page as a camera sees it on a wall: smaller, with a painted wall around it and
    the exposure of a classroom (no pure black, no pure white)."""
    rng = random.Random(seed)
    small = page.resize(
        (max(1, int(page.width * scale)), max(1, int(page.height * scale))),
        Image.Resampling.LANCZOS,
    )
    pad_x, pad_y = int(small.width * 0.35), int(small.height * 0.2)
    wall = Image.new("RGB", (small.width + 2 * pad_x, small.height + 2 * pad_y), (168, 182, 171))
    wall.paste(small, (pad_x + rng.randint(-5, 5), pad_y + rng.randint(-5, 5)))
    return wall.point(lambda v: 24 + v * 205 // 255)


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(150, 160, 150)
    )


def perspective(image: Image.Image, strength: float = 0.12) -> Image.Image:
    """Photographed from the side: the far edge shrinks."""
    w, h = image.size
    d = strength
    # Map output quad corners to input corners (PIL wants the inverse mapping coefficients).
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(0, 0), (w, h * d), (w, h * (1 - d)), (0, h)]
    coeffs = _perspective_coeffs(dst, src)
    return image.transform(
        (w, h),
        Image.Transform.PERSPECTIVE,
        coeffs,
        Image.Resampling.BICUBIC,
        fillcolor=(150, 160, 150),
    )


def _perspective_coeffs(
    out: list[tuple[float, float]], inp: list[tuple[float, float]]
) -> tuple[float, ...]:
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(out, inp, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return tuple(_solve(rows, rhs))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def blur(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def cover(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Paint over a part of the picture (fractions of width and height)."""
    out = image.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle(
        (box[0] * w, box[1] * h, box[2] * w, box[3] * h), fill=(90, 70, 60)
    )
    return out


def glare(
    image: Image.Image, centre: tuple[float, float], radius: float, strength: float = 1.0
) -> Image.Image:
    """A window's reflection: a soft bright ellipse that blows out what is under it."""
    w, h = image.size
    mask = Image.new("L", (w, h), 0)
    r = radius * min(w, h)
    cx, cy = centre[0] * w, centre[1] * h
    ImageDraw.Draw(mask).ellipse(
        (cx - r * 1.4, cy - r, cx + r * 1.4, cy + r), fill=int(255 * strength)
    )
    mask = mask.filter(ImageFilter.GaussianBlur(r / 4))
    white = Image.new("RGB", (w, h), (255, 255, 255))
    return Image.composite(white, image, mask)


def noise(image: Image.Image, amount: int = 40) -> Image.Image:
    """Sensor noise of a phone in a dim classroom."""
    speckle = Image.effect_noise(image.size, amount)
    return Image.merge(
        "RGB",
        [Image.blend(band, speckle, 0.15) for band in image.convert("RGB").split()],
    )
