"""The demo page in headless Chromium at a laptop's 1366x768 and a phone's 390x844: the
language buttons switch the bot's own language, the page fits the screen with the message
box in view, chats follow the newest message, a file's label sits above it, times come from
the server's clock in the region's time zone, and a draft is counted (empty: a note; longer
than one Telegram message: a note saying into how many it goes). Screenshots of each go to
test-artifacts/."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from PIL import Image

from bot.delivery.text_parts import TEXT_LIMIT, split
from bot.i18n import Translator
from demo.strings import PAGE_STRINGS
from demo.web import MAX_PARTS
from tests.test_demo import CASE_CODE, CHROMIUM, CHROMIUM_ARGS, STEP_MS, demo, leaves_nothing, tr

__all__ = ["demo", "tr"]  # fixtures shared with test_demo

# The browser sits far from the demo region (Almaty, UTC+5): a time drawn by the browser's
# clock would read 13 hours off.
BROWSER_ZONE = "America/Los_Angeles"
REGION_ZONE = ZoneInfo("Asia/Almaty")
SCREENS = {
    "laptop": {"viewport": {"width": 1366, "height": 768}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
CHOOSE = "Choose your language:"
TAKEN = "A psychologist has taken your conversation and will answer you here soon."
STUDENT_WRITES = "💬 {code} — the student writes:"

browser = pytest.mark.browser


@pytest.fixture(params=sorted(SCREENS))
def screen(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def page(demo: str, screen: str) -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await chromium.new_context(
            **SCREENS[screen], locale="ru-RU", timezone_id=BROWSER_ZONE
        )
        tab = await context.new_page()
        tab.set_default_timeout(STEP_MS)
        errors: list[str] = []
        elsewhere: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on(
            "request",
            lambda request: (
                None if leaves_nothing(request.url, demo) else elsewhere.append(request.url)
            ),
        )
        await tab.goto(demo)
        await tab.wait_for_selector("[data-testid=scan]")
        yield tab
        await chromium.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not elsewhere, f"the page asked for something outside the demo: {elsewhere}"


def chat(tab: Any, role: str) -> Any:
    return tab.locator(f"[data-testid=messages-{role}]")


async def show(tab: Any, role: str) -> None:
    """On a phone-sized screen one phone shows at a time: bring `role`'s forward."""
    switch = tab.locator(f"[data-testid=show-{role}]")
    if await switch.is_visible():
        await switch.click()
    await tab.locator(f"[data-testid=input-{role}]").wait_for(state="visible")


async def write(tab: Any, role: str, text: str) -> None:
    await show(tab, role)
    await tab.fill(f"[data-testid=input-{role}]", text)
    await tab.press(f"[data-testid=input-{role}]", "Enter")


async def attach(tab: Any, role: str, name: str, mime: str, data: bytes) -> None:
    await show(tab, role)
    await tab.set_input_files(
        f"[data-testid=file-{role}]", files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


async def state(demo: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(demo + "api/state") as response:
        result: dict[str, Any] = await response.json()
        return result


async def in_view(tab: Any, selector: str) -> bool:
    """Whether the element is wholly inside the window, with the page not scrolled."""
    return bool(
        await tab.locator(selector).evaluate(
            """node => {
                const box = node.getBoundingClientRect();
                return window.scrollY === 0 && box.width > 0 && box.top >= 0
                    && box.left >= 0 && box.bottom <= window.innerHeight
                    && box.right <= window.innerWidth;
            }"""
        )
    )


async def at_newest(tab: Any, role: str) -> None:
    """Waits until `role`'s chat shows its newest message: scrolled to the end, its
    pictures loaded, the last message's bottom inside the chat."""
    await tab.wait_for_function(
        """box => {
            const images = [...box.querySelectorAll("img")];
            const last = box.querySelector(".msg:last-child");
            const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 2;
            const shown = last && last.getBoundingClientRect().bottom
                <= box.getBoundingClientRect().bottom + 1;
            return images.every((image) => image.complete) && atEnd && shown;
        }""",
        arg=await chat(tab, role).element_handle(),
        polling="raf",
    )


def jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (70, 130, 180)).save(out, "JPEG")
    return out.getvalue()


@browser
async def test_the_page_fits_the_screen_and_counts_the_draft(
    page: Any, demo: str, screen: str, tr: Translator, artifacts_dir: Path
) -> None:
    # Both message boxes (one at a time on a phone) are in view without scrolling.
    assert await in_view(page, "[data-testid=input-student]")
    assert await in_view(page, "[data-testid=scan]")
    if screen == "laptop":
        assert await in_view(page, "[data-testid=input-psychologist]")
    else:
        assert not await page.locator("[data-testid=input-psychologist]").is_visible()
        await show(page, "psychologist")
        assert await in_view(page, "[data-testid=input-psychologist]")
        assert not await page.locator("[data-testid=input-student]").is_visible()
        await show(page, "student")
    await page.screenshot(path=str(artifacts_dir / f"demo-page-{screen}.png"))

    # An empty message is not sent silently: a note says why.
    note = page.locator("[data-testid=note-student]")
    await page.press("[data-testid=input-student]", "Enter")
    await note.get_by_text(tr("ru", PAGE_STRINGS["empty_message"])).wait_for()
    await write(page, "student", "   \n  ")
    await note.get_by_text(tr("ru", PAGE_STRINGS["empty_message"])).wait_for()
    assert (await state(demo))["phones"]["student"]["messages"] == []

    # The counter counts as Telegram does (UTF-16 units: an emoji outside the BMP is 2).
    counter = page.locator("[data-testid=counter-student]")
    await page.fill("[data-testid=input-student]", "Сәлем 🙂")
    assert await counter.inner_text() == f"8 / {TEXT_LIMIT}"
    assert not await note.is_visible()

    # Longer than one message: nothing is cut, a note says into how many it goes.
    long_text = "\n\n".join(f"{n}. " + "Мені мектепте мазақтайды. " * 60 for n in range(1, 5))
    parts = split(long_text)
    assert len(parts) == 2
    await page.fill("[data-testid=input-student]", long_text)
    units = len(long_text.encode("utf-16-le")) // 2
    assert await counter.inner_text() == f"{units} / {TEXT_LIMIT}"
    will_split = tr("ru", PAGE_STRINGS["will_split"]).format(limit=TEXT_LIMIT, parts=2)
    await note.get_by_text(will_split).wait_for()
    assert await page.input_value("[data-testid=input-student]") == long_text
    assert await in_view(page, "[data-testid=input-student]")
    await page.screenshot(path=str(artifacts_dir / f"demo-long-draft-{screen}.png"))

    # Sent, it arrives as those parts, in order, and the note goes.
    await page.press("[data-testid=input-student]", "Enter")
    sent = chat(page, "student").locator(".msg.out")
    await sent.nth(1).wait_for()
    assert [text.strip() for text in await sent.locator(".text").all_inner_texts()] == parts
    assert not await note.is_visible()
    assert await page.input_value("[data-testid=input-student]") == ""

    # Over what the demo sends at once: a note, and the draft stays as it was.
    huge = "а" * (TEXT_LIMIT * MAX_PARTS + 1)
    await page.fill("[data-testid=input-student]", huge)
    await note.get_by_text(tr("ru", PAGE_STRINGS["too_long"])).wait_for()


@browser
async def test_the_language_buttons_switch_the_bots_language(
    page: Any, demo: str, screen: str, tr: Translator, artifacts_dir: Path
) -> None:
    student = chat(page, "student")
    # Before the bot knows the student, the button is the phone's language: the poster in
    # Kazakh greets in Kazakh, and no /lang is needed.
    await page.click("[data-testid=lang-kk]")
    await page.click("[data-testid=scan]")
    await student.locator(".msg.in").first.wait_for()
    await write(page, "student", "Сәлем. Маған көмек керек.")
    await student.locator(".msg.out", has_text="Маған көмек керек").wait_for()
    assert await student.locator(".msg.out", has_text="/lang").count() == 0

    # Mid-session the bot keeps its saved choice, so the button goes through the bot's own
    # /lang: the question comes in the saved language (Kazakh), the choice is Kyrgyz.
    await page.click("[data-testid=lang-ky]")
    await student.locator(".msg.in", has_text=tr("kk", CHOOSE)).wait_for()
    await student.locator(".msg.out", has_text="/lang").first.wait_for()
    assert await page.get_attribute("[data-testid=lang-ky]", "aria-checked") == "true"
    notice = page.locator("[data-testid=notice]")
    await notice.get_by_text(tr("ky", PAGE_STRINGS["notice"])).wait_for()

    # The open case follows the choice too: taken, the student is told so in Kyrgyz.
    await show(page, "psychologist")
    await page.locator("[data-testid=messages-psychologist] .msg.in .key").first.click()
    await show(page, "student")
    await student.locator(".msg.in", has_text=tr("ky", TAKEN)).wait_for()

    # The bot saved Kyrgyz: the next /lang asks in Kyrgyz.
    await page.click("[data-testid=lang-ru]")
    await student.locator(".msg.in", has_text=tr("ky", CHOOSE)).wait_for()
    await page.locator("[data-phone=student] .langs[aria-busy=false]").wait_for()
    await notice.get_by_text(tr("ru", PAGE_STRINGS["notice"])).wait_for()
    await at_newest(page, "student")
    await page.screenshot(path=str(artifacts_dir / f"demo-language-{screen}.png"))

    # And the other way: a language chosen in the chat shows on the page's buttons.
    await write(page, "student", "/lang")
    question = student.locator(".msg.in", has_text=tr("ru", CHOOSE)).last
    await question.locator(".key", has_text="Қазақша").click()
    await page.locator("[data-testid=lang-kk][aria-checked=true]").wait_for()
    await notice.get_by_text(tr("kk", PAGE_STRINGS["notice"])).wait_for()
    await page.click("[data-testid=lang-ru]")
    await student.locator(".msg.in", has_text=tr("kk", CHOOSE)).nth(1).wait_for()


@browser
async def test_chats_follow_the_newest_message_labels_sit_above_and_one_clock(
    page: Any, demo: str, screen: str, tr: Translator, artifacts_dir: Path
) -> None:
    student, psychologist = chat(page, "student"), chat(page, "psychologist")
    await page.click("[data-testid=scan]")
    await student.locator(".msg.in").first.wait_for()
    for n in range(1, 4):
        await write(page, "student", f"Сообщение {n}: в классе меня обижают.")
        await student.locator(".msg.out", has_text=f"Сообщение {n}").wait_for()
        await at_newest(page, "student")

    # The psychologist takes the case from its card (the one message with a button).
    await show(page, "psychologist")
    card = psychologist.locator(".msg.in", has=page.locator(".key")).first
    await card.locator(".key").click()
    code_match = CASE_CODE.search(await card.inner_text())
    assert code_match is not None
    code = code_match.group(0)
    await psychologist.locator(".msg.in", has_text="Сообщение 3").last.wait_for()
    await at_newest(page, "psychologist")

    # A photo and a document: each chat ends at them, after the picture has loaded.
    await attach(page, "student", "wall.jpg", "image/jpeg", jpeg())
    await student.locator(".msg.out img").wait_for()
    await at_newest(page, "student")
    await attach(page, "student", "note.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    await student.locator(".msg.out [data-testid=document]").wait_for()
    await at_newest(page, "student")
    await page.screenshot(path=str(artifacts_dir / f"demo-student-photo-{screen}.png"))

    # On the psychologist's side "… the student writes:" labels the photo from above; it
    # is not drawn as the photo's caption under it.
    await show(page, "psychologist")
    label = tr("ru", STUDENT_WRITES, code=code)
    relayed = psychologist.locator(".msg.in", has=page.locator("img")).last
    await relayed.wait_for()
    await psychologist.locator(".msg.in [data-testid=document]").last.wait_for()
    await at_newest(page, "psychologist")
    text_box = await relayed.locator(".text", has_text=label).bounding_box()
    image_box = await relayed.locator("img").bounding_box()
    assert text_box is not None and image_box is not None
    assert text_box["y"] + text_box["height"] <= image_box["y"] + 1
    await page.screenshot(path=str(artifacts_dir / f"demo-psychologist-photo-{screen}.png"))

    # The psychologist answers in text; the student's chat follows it.
    await write(page, "psychologist", "Спасибо, что написал. Я здесь, давай поговорим.")
    await show(page, "student")
    await student.locator(".msg.in", has_text="давай поговорим").wait_for()
    await at_newest(page, "student")

    # One clock: every time on the page is the server's, in the region's time zone (as in
    # transcripts), whatever the browser's zone says.
    shown = await student.locator(".msg .meta").all_inner_texts()
    messages = (await state(demo))["phones"]["student"]["messages"]
    region = [datetime.fromtimestamp(m["date"], REGION_ZONE).strftime("%H:%M") for m in messages]
    browsers = [
        datetime.fromtimestamp(m["date"], ZoneInfo(BROWSER_ZONE)).strftime("%H:%M")
        for m in messages
    ]
    assert [time.strip() for time in shown] == region
    assert region[-1] != browsers[-1]


async def test_the_api_sends_long_texts_in_parts_and_refuses_empty_ones(
    demo: str, tr: Translator
) -> None:
    long_text = "Бір. " * 1000  # 5,000 characters
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
            async with http.post(demo + path, json=body) as response:
                return response.status, await response.json()

        status, body = await post("api/send", {"phone": "student", "text": " \n\t"})
        assert (status, body["error"]) == (400, tr("ru", PAGE_STRINGS["empty_message"]))
        status, body = await post("api/measure", {"text": "🙂" * 2100})
        assert (status, body["units"], body["parts"]) == (200, 4200, 2)
        status, body = await post("api/measure", {"text": long_text})
        assert (body["units"], body["parts"]) == (5000, len(split(long_text)))
        status, body = await post("api/send", {"phone": "student", "text": long_text})
        assert status == 200
        texts = [m["text"] for m in body["phones"]["student"]["messages"] if m["out"]]
        assert texts == split(long_text) and len(texts) == 2
        huge = "а" * (TEXT_LIMIT * MAX_PARTS + 1)
        status, body = await post("api/send", {"phone": "student", "text": huge})
        assert (status, body["error"]) == (400, tr("ru", PAGE_STRINGS["too_long"]))
