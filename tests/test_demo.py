"""`trustline demo`, driven in headless Chromium as a person would use it: a student writes
in Kazakh, the psychologist takes the case and answers; the page survives a reload, a
10 MB upload and a second demo on the same port."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from PIL import Image

from bot.cli import main
from bot.delivery.text_parts import TEXT_LIMIT
from bot.i18n import Translator, make_i18n
from demo import run_demo
from demo.strings import PAGE_STRINGS
from demo.web import MAX_PARTS

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 120
STEP_MS = 30_000
STUDENT_TEXT = "Сәлем. Сыныптағы балалар мені күнде мазақтайды, мектепке барғым келмейді."
ANSWER_TEXT = "Сәлем! Жазғаның өте дұрыс болды. Айтшы, бұл қашаннан бері болып жатыр?"
CASE_CODE = re.compile(r"#[0-9A-Z]{4}-[0-9A-Z]{4}")
TOOK = (
    "You took case {code}. What you write now goes to the student, signed only as "
    '"the psychologist". The conversation so far follows.'
)

browser = pytest.mark.browser


@pytest.fixture(scope="module")
def tr() -> Translator:
    return Translator(make_i18n())


@pytest.fixture
async def demo() -> AsyncIterator[str]:
    """A demo on a free port, in this process, exactly as `trustline demo` runs it."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_demo(0, "ru", ready.set_result))
    await asyncio.wait({task, ready}, timeout=STARTUP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError("the demo did not start")
    try:
        yield ready.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def playwright() -> Any:
    """Skips (before any demo starts) where the browser tests cannot run."""
    if not HAVE_CHROMIUM:
        pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    return pytest.importorskip("playwright.async_api")


@pytest.fixture
async def page(playwright: Any, demo: str) -> AsyncIterator[Any]:
    async with playwright.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await chromium.new_context(
            viewport={"width": 1280, "height": 1000}, locale="kk-KZ", timezone_id="Asia/Almaty"
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


def leaves_nothing(url: str, demo: str) -> bool:
    """A request to the demo itself, or one the browser answers from inside (data:, blob:,
    its own PDF viewer's chrome:// and chrome-extension:// files)."""
    scheme = urlsplit(url).scheme
    return url.startswith(demo) or scheme not in {"http", "https", "ws", "wss", "ftp"}


def phone(tab: Any, role: str) -> Any:
    return tab.locator(f"[data-testid=messages-{role}]")


def cards(tab: Any) -> Any:
    """Case cards in the psychologist's chat: the bot's messages with a button."""
    return phone(tab, "psychologist").locator(".msg.in", has=tab.locator(".key"))


async def scan_in(tab: Any, lang: str) -> None:
    await tab.click(f"[data-testid=lang-{lang}]")
    await tab.click("[data-testid=scan]")


async def student_writes(tab: Any, text: str) -> None:
    await tab.fill("[data-testid=input-student]", text)
    await tab.press("[data-testid=input-student]", "Enter")
    await phone(tab, "student").locator(".msg.out", has_text=text).wait_for()


@browser
async def test_student_writes_in_kazakh_and_the_psychologist_answers(
    page: Any, demo: str, tr: Translator, artifacts_dir: Path
) -> None:
    await scan_in(page, "kk")
    # The page's frame speaks Kazakh, and says plainly that it is a demo.
    notice = page.locator("[data-testid=notice]")
    await notice.get_by_text(tr("kk", PAGE_STRINGS["notice"])).wait_for()
    # The bot greets the student in the poster's language that matches their phone.
    await phone(page, "student").locator(".msg.in", has_text="Сәлем!").first.wait_for()
    await student_writes(page, STUDENT_TEXT)

    # The psychologist is notified: a case card with a Take button (the pool sees no words
    # before a take).
    card = cards(page).first
    await card.locator(".key").wait_for()
    match = CASE_CODE.search(await card.inner_text())
    assert match, "the card names no case code"
    code = match.group(0)
    await card.locator(".key").click()
    took = tr("ru", TOOK, code=code)
    await phone(page, "psychologist").locator(".msg.in", has_text=took).wait_for()
    history = tr("ru", "Status: {status}", status="").strip()
    await phone(page, "psychologist").locator(".msg.in", has_text=history).last.wait_for()

    await page.fill("[data-testid=input-psychologist]", ANSWER_TEXT)
    await page.press("[data-testid=input-psychologist]", "Enter")
    answer = phone(page, "student").locator(".msg.in", has_text=ANSWER_TEXT)
    await answer.wait_for()
    # Labelled as from the psychologist, in the student's language, and nothing else.
    assert "Психолог" in await answer.inner_text()
    await page.screenshot(path=str(artifacts_dir / "demo-conversation-kk.png"))

    # /close offers outcomes as buttons; pressing one closes the case.
    await page.click("[data-testid=command-close]")
    question = tr("ru", "How did case {code} end?", code=code)
    outcomes = phone(page, "psychologist").locator(".msg.in", has_text=question)
    await outcomes.locator(".key").first.click()
    closed = tr("ru", "Case {code} is closed: {outcome}.", code=code, outcome=tr("ru", "resolved"))
    await phone(page, "psychologist").locator(".msg.in", has_text=closed).wait_for()

    # The third tab shows the school's poster, the PDF the real poster code made.
    await page.click("[data-testid=tab-poster]")
    frame_src = await page.locator("[data-testid=poster-frame]").get_attribute("src")
    assert frame_src is not None and frame_src.startswith("/posters/kk.pdf")
    async with aiohttp.ClientSession() as http, http.get(demo + "posters/kk.pdf") as response:
        assert response.content_type == "application/pdf"
        assert (await response.read()).startswith(b"%PDF-")
    await page.wait_for_timeout(4000)  # Chromium's PDF viewer draws the page
    await page.screenshot(path=str(artifacts_dir / "demo-poster.png"))


@browser
async def test_a_reload_mid_conversation_brings_everything_back(
    page: Any, tr: Translator, artifacts_dir: Path
) -> None:
    await scan_in(page, "kk")
    await student_writes(page, STUDENT_TEXT)
    await cards(page).first.wait_for()
    await phone(page, "student").locator(".msg.in").nth(1).wait_for()  # the acknowledgement
    before = {
        role: await phone(page, role).locator(".msg").all_inner_texts()
        for role in ("student", "psychologist")
    }

    await page.reload()
    await cards(page).first.wait_for()
    for role, texts in before.items():
        after = await phone(page, role).locator(".msg").all_inner_texts()
        assert after[: len(texts)] == texts, f"the {role}'s chat changed across the reload"
    assert await page.get_attribute("[data-testid=lang-kk]", "aria-checked") == "true"
    notice = page.locator("[data-testid=notice]")
    await notice.get_by_text(tr("kk", PAGE_STRINGS["notice"])).wait_for()

    # The conversation goes on where it was: the buttons drawn after the reload work, and
    # the psychologist who takes the case reads both messages.
    await student_writes(page, "Тағы бір нәрсе айтқым келеді.")
    await cards(page).first.locator(".key").click()
    history = phone(page, "psychologist").locator(".msg.in", has_text="Тағы бір нәрсе")
    await history.wait_for()
    assert STUDENT_TEXT in await history.inner_text()
    await page.screenshot(path=str(artifacts_dir / "demo-after-reload.png"))


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 60)).save(out, "JPEG")
    return out.getvalue()


@browser
async def test_a_10_mb_upload_gets_a_clear_answer_and_the_chat_goes_on(
    page: Any, demo: str, tr: Translator, artifacts_dir: Path
) -> None:
    too_big_text = tr("ru", PAGE_STRINGS["too_big"])
    await scan_in(page, "ru")
    await phone(page, "student").locator(".msg.in").first.wait_for()
    ten_mb = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024 - 2)  # a byte over 10 MB
    await page.set_input_files(
        "[data-testid=file-student]",
        files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": ten_mb}],
    )
    toast = page.locator("[data-phone=student] .toast")
    await toast.get_by_text(too_big_text).wait_for()
    await page.screenshot(path=str(artifacts_dir / "demo-upload-refused.png"))

    # The server says the same when the page's own check is bypassed, and keeps nothing.
    form = aiohttp.FormData()
    form.add_field("phone", "student")
    form.add_field("file", io.BytesIO(ten_mb), filename="big.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http:
        async with http.post(demo + "api/upload", data=form) as response:
            assert response.status == 413
            assert (await response.json())["error"] == too_big_text
        async with http.get(demo + "api/state") as response:
            chat = (await response.json())["phones"]["student"]["messages"]
            assert [m for m in chat if m["media"]] == []
        async with http.get(demo + "posters/kk.pdf") as response:
            poster_pdf = await response.read()

    # A photo of a normal size goes through; so does a document, which opens.
    await page.set_input_files(
        "[data-testid=file-student]",
        files=[{"name": "wall.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}],
    )
    photo = phone(page, "student").locator(".msg.out img")
    await photo.wait_for()
    assert await photo.evaluate("image => image.complete && image.naturalWidth === 64")
    await page.set_input_files(
        "[data-testid=file-student]",
        files=[{"name": "poster.pdf", "mimeType": "application/pdf", "buffer": poster_pdf}],
    )
    document = phone(page, "student").locator(".msg.out [data-testid=document]")
    await document.get_by_text("poster.pdf").wait_for()
    href = await document.get_attribute("href")
    async with aiohttp.ClientSession() as http, http.get(demo + href.lstrip("/")) as response:
        assert response.content_type == "application/pdf"
        assert await response.read() == poster_pdf
    # The psychologist is told of the case the photo opened, takes it and sees both files.
    await phone(page, "psychologist").locator(".msg.in .key").first.click()
    await phone(page, "psychologist").locator(".msg.in img").wait_for()
    await phone(page, "psychologist").locator(".msg.in [data-testid=document]").wait_for()
    await page.screenshot(path=str(artifacts_dir / "demo-attachments.png"))


async def test_a_second_demo_on_the_same_port_says_so_and_exits_2(
    demo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = demo.rstrip("/").rsplit(":", 1)[1]
    root = logging.getLogger()
    level = root.level
    try:
        code = await asyncio.to_thread(main, ["demo", "--port", port])
    finally:
        root.setLevel(level)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"port {port}" in err and "already in use" in err and "--port" in err
    # The first demo is untouched.
    async with aiohttp.ClientSession() as http, http.get(demo + "api/state") as response:
        assert response.status == 200
        assert set((await response.json())["phones"]) == {"student", "psychologist"}


def test_a_port_number_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--port", "70000"])
    assert exit_info.value.code == 2
    assert "not a port number" in capsys.readouterr().err


async def test_the_api_refuses_what_telegram_would_not_take_and_other_sites(
    demo: str, tr: Translator
) -> None:
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
            async with http.post(demo + path, json=body, headers=headers) as response:
                is_json = response.content_type == "application/json"
                return response.status, await response.json() if is_json else None

        huge = "а" * (TEXT_LIMIT * MAX_PARTS + 1)  # more messages than the demo sends at once
        status, body = await post("api/send", {"phone": "student", "text": huge})
        assert (status, body["error"]) == (400, tr("ru", PAGE_STRINGS["too_long"]))
        status, body = await post("api/send", {"phone": "student", "text": "  \n"})
        assert (status, body["error"]) == (400, tr("ru", PAGE_STRINGS["empty_message"]))
        status, body = await post(
            "api/press", {"phone": "student", "message_id": 1, "data": "take:AAAAAAAA"}
        )
        assert (status, body["error"]) == (400, tr("ru", PAGE_STRINGS["not_sent"]))
        assert (await post("api/send", {"phone": "supervisor", "text": "hi"}))[0] == 400
        assert (await post("api/lang", {"lang": "en"}))[0] == 400
        # Another site open in the browser can neither post nor read through a DNS name.
        evil = {"Origin": "http://example.org"}
        assert (await post("api/send", {"phone": "student", "text": "hi"}, **evil))[0] == 403
        async with http.get(demo + "api/state", headers={"Host": "evil.example"}) as response:
            assert response.status == 421
        async with http.get(demo + "files/photo-999999") as response:
            assert response.status == 404
        async with http.get(demo + "static/..%2Fworld.py") as response:
            assert response.status == 404
        # None of it reached the bot: the student's chat is still empty.
        async with http.get(demo + "api/state") as response:
            state = await response.json()
    assert state["phones"]["student"]["messages"] == []
    assert state["lang"] == "ru"
