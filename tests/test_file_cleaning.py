"""Files reach staff without names or metadata (issue 15, point 8).

A student's document reaches the psychologist as "file-#CODE-N.ext" (the extension only from
a short list), an image (a photo, or a document that is one) re-encoded from its pixels:
upright, with no EXIF or GPS. The student is told once per case. A file Telegram does not let
a bot download (over 20 MB) or that cannot be decoded is not passed on; the student is told
kindly and the case goes on. All through the fake Bot API, on both engines.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from bot.app import App
from bot.delivery import file_cleaning, undelivered
from bot.domain import ContentKind, Role
from bot.services.casework import cases, codes
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.queue_helpers import (
    _outbox_empty,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)

CHILD = "Айгерим Садыкова 7Б"
GPS = {1: "N", 2: (42.0, 52.0, 12.5), 3: "E", 4: (74.0, 35.0, 1.0)}


def _jpeg_with_gps(size: tuple[int, int] = (40, 20)) -> bytes:
    """A phone's JPEG: rotated by its EXIF orientation, with the maker and GPS in EXIF."""
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 40x20 stored, 20x40 seen
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = GPS
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _upload(call: Call, name: str) -> dict[str, object]:
    value = call.params.get(name)
    assert isinstance(value, dict) and "data" in value, f"{name} was not uploaded: {value!r}"
    return value


def _no_metadata(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert not image.getexif(), dict(image.getexif())
    assert "exif" not in image.info and "xmp" not in image.info
    assert b"PhoneMaker" not in data and b"Exif" not in data
    return image


async def _note_count(app: App, api: FakeBotAPI, chat_id: int) -> int:
    note = app.rt.tr("ru", cases.FILES_CLEANED)
    assert note != cases.FILES_CLEANED  # translated
    await api.wait_for(lambda c: c.chat_id == chat_id and c.text == note, 10)
    await _outbox_empty(app)
    return sum(1 for c in api.calls if c.chat_id == chat_id and c.is_send and c.text == note)


async def _case_with_taker(
    app: App, api: FakeBotAPI, first: int
) -> tuple[TgUser, TgUser, str, str]:
    places = await seed_places(app)
    psy = TgUser(first, "Psy", language_code="ru")
    await join(app, api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(first + 1, "Aigerim", language_code="ru")
    case = await student_opens_case(app, api, student, "мне пишут гадости", district=places.lenin)
    return psy, student, case.code, codes.display(case.code)


async def test_a_photo_with_gps_named_after_the_child_arrives_bare(
    app: App, fake_api: FakeBotAPI
) -> None:
    psy, student, code, shown = await _case_with_taker(app, fake_api, 8100)
    # Before a take: the document is stored; the psychologist gets it with the history.
    update = fake_api.document_message(
        student, _jpeg_with_gps(), file_name=f"{CHILD}.jpg", mime_type="image/jpeg"
    )
    sent_ids = [update["message"]["document"]["file_id"]]
    assert await _note_count(app, fake_api, student.id) == 1
    start = len(fake_api.calls)
    await take(app, fake_api, psy, code)
    sent = await fake_api.wait_for(
        lambda c: c.method == "sendDocument" and c.chat_id == psy.id, 10, start=start
    )
    upload = _upload(sent, "document")
    assert upload["filename"] == f"file-{shown}-2.jpg"
    seen = json.dumps([sent.params, sent.message], ensure_ascii=False, default=str)
    assert "Айгерим" not in seen and "7Б" not in seen
    image = _no_metadata(upload["data"])  # type: ignore[arg-type]
    assert image.size == (20, 40)  # turned upright before the EXIF went
    assert sent.params.get("protect_content") is True

    # After the take: a photo (Telegram keeps a photo's EXIF for a bot's download too)
    # is relayed cleaned, and a PDF and an .html keep only a neutral name.
    start = len(fake_api.calls)
    update = fake_api.photo_message(student, caption="вот он", data=_jpeg_with_gps((60, 30)))
    sent_ids.append(update["message"]["photo"][-1]["file_id"])
    photo = await fake_api.wait_for(
        lambda c: c.method == "sendPhoto" and c.chat_id == psy.id, 10, start=start
    )
    photo_upload = _upload(photo, "photo")
    assert str(photo_upload["filename"]).startswith(f"file-{shown}-3")
    assert _no_metadata(photo_upload["data"]).size == (30, 60)  # type: ignore[arg-type]
    assert "вот он" in (photo.text or "")

    for data, name, kept in ((b"%PDF-1.4 ...", f"{CHILD}.pdf", ".pdf"), (b"<b>", "x.html", "")):
        start = len(fake_api.calls)
        update = fake_api.document_message(student, data, file_name=name)
        sent_ids.append(update["message"]["document"]["file_id"])
        sent = await fake_api.wait_for(
            lambda c: c.method == "sendDocument" and c.chat_id == psy.id, 10, start=start
        )
        upload = _upload(sent, "document")
        assert str(upload["filename"]).startswith(f"file-{shown}-")
        assert str(upload["filename"]).endswith(kept) and "Айгерим" not in str(upload["filename"])
        assert kept or "." not in str(upload["filename"])
        assert upload["data"] == data  # not an image: the content as it was
    # Told once per case, however many files.
    assert await _note_count(app, fake_api, student.id) == 1
    # No file ever went to staff by the student's file id (the bytes as sent): the bot only
    # downloads it.
    for file_id in sent_ids:
        named = [c for c in fake_api.calls if file_id in json.dumps(c.params, default=str)]
        assert named and {c.method for c in named} == {"getFile"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a jpeg at all", file_cleaning.FILE_UNREADABLE),
        (b"\0" * (20 * 1024 * 1024 + 1), file_cleaning.FILE_TOO_BIG),
    ],
    ids=["unreadable", "over 20 MB"],
)
async def test_a_file_that_cannot_be_cleaned_gets_a_kind_answer_and_the_case_goes_on(
    app: App, fake_api: FakeBotAPI, data: bytes, reason: str
) -> None:
    psy, student, code, shown = await _case_with_taker(app, fake_api, 8200)
    await take(app, fake_api, psy, code)
    start = len(fake_api.calls)
    fake_api.document_message(student, data, file_name="photo.jpg", mime_type="image/jpeg")
    why = app.rt.tr("ru", undelivered.ABOUT_PSYCHOLOGIST[reason])
    assert why != undelivered.ABOUT_PSYCHOLOGIST[reason]
    told = await next_to(fake_api, student.id, start, why)
    assert "111" in (told.text or "")
    await _outbox_empty(app)
    relayed = [
        c
        for c in fake_api.calls[start:]
        if c.chat_id == psy.id and c.method in ("sendDocument", "sendPhoto") and c.ok
    ]
    assert relayed == []
    # The case goes on.
    start = len(fake_api.calls)
    fake_api.text_message(student, "ладно, напишу словами")
    await next_to(fake_api, psy.id, start, "ладно, напишу словами")


def test_an_image_document_keeps_no_text_chunks_and_transparency_stays_png() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", CHILD)
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 0)).save(out, "PNG", pnginfo=info)
    data, name = file_cleaning.cleaned(out.getvalue(), ".PNG", ContentKind.DOCUMENT, "file-x-1")
    assert name == "file-x-1.png"
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGBA" and not image.text  # type: ignore[attr-defined]
    assert CHILD.encode() not in data
    # A JPEG whatever its name: re-encoded all the same, named as the image it is.
    data, name = file_cleaning.cleaned(_jpeg_with_gps(), "", ContentKind.DOCUMENT, "file-x-3")
    assert name == "file-x-3.jpg" and _no_metadata(data).size == (20, 40)
    data, name = file_cleaning.cleaned(_jpeg_with_gps(), ".pdf", ContentKind.DOCUMENT, "f")
    assert name == "f.jpg" and b"PhoneMaker" not in data
    with pytest.raises(ValueError, match="decode"):
        file_cleaning.cleaned(b"HEIC?", ".heic", ContentKind.DOCUMENT, "file-x-2")
