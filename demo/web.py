"""The demo page's server: static HTML/JS/CSS from the package, and a small JSON API through
which the page acts as two Telegram users and reads what the bot did. Loopback only."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bot.callbacks import StudentLanguage
from bot.delivery import text_parts
from bot.domain import Language
from bot.i18n import Translate
from bot.services.errors import ConfigError
from demo import view
from demo.strings import page_strings
from demo.world import ATTACHMENT_LIMIT, PSYCHOLOGIST, STUDENT, DemoWorld, Refused
from fake_telegram.objects import Call

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
HOST = "127.0.0.1"
LONG_POLL_SECONDS = 25.0
PHONES = (STUDENT, PSYCHOLOGIST)
LANGUAGES = frozenset(lang.value for lang in Language)
# How long the bot may take to answer the /lang that a language button sends for the student.
LANGUAGE_SWITCH_SECONDS = 20.0
# A text longer than one Telegram message goes as several, as Telegram's apps send it; the
# demo sends at most this many at once (strings.py's "too_long" says so).
MAX_PARTS = 10
# Never more than this is read of an upload; what is above the attachment limit is drained
# only up to here, so the browser gets its answer instead of a reset connection.
UPLOAD_READ_LIMIT = 4 * ATTACHMENT_LIMIT
# Files served inline are only these kinds; anything else is offered as a download, so an
# uploaded page can never run as ours.
INLINE_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; frame-src 'self'; object-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PortTaken(ConfigError):
    pass


def sniff(data: bytes) -> str | None:
    for magic, mime in INLINE_TYPES:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class DemoPage:
    """The page and its API. `world` is set once the bot is up; until then the API answers
    503 and the page waits."""

    def __init__(self, tr: Translate, lang: str) -> None:
        self.tr = tr
        self.lang = lang
        self.world: DemoWorld | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._switching = asyncio.Lock()  # one language switch at a time

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.port}/"

    # -- lifecycle ---------------------------------------------------------------------

    async def bind(self, port: int) -> None:
        """Listen on 127.0.0.1:`port` (0: any free port); PortTaken when another program
        (another demo, say) already listens there."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/lang", self._set_lang)
        app.router.add_post("/api/scan", self._scan)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/measure", self._measure)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/upload", self._upload)
        app.router.add_get("/files/{file_id}", self._file)
        app.router.add_get("/posters/{lang}.pdf", self._poster)
        # No access log: addresses hold nothing secret, but a quiet console is the point.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, HOST, port)
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(
                    f"port {port} on {HOST} is already in use (is another demo running?); "
                    f"stop it or choose another port with --port N"
                ) from exc
            raise
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- guard: loopback pages only ------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Only this page may use the API: a site open in another tab can neither read it
        (through a DNS name pointed at 127.0.0.1) nor post to it."""
        allowed = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        if request.host not in allowed:
            raise web.HTTPMisdirectedRequest()
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin not in {None, *(f"http://{a}" for a in allowed)}:
            raise web.HTTPForbidden()
        response = await handler(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- page ------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.content_type = "text/html"
        return response

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        response = web.FileResponse(STATIC / name)
        response.content_type = STATIC_FILES[name]
        return response

    def _world(self) -> DemoWorld:
        if self.world is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"starting": True}), content_type="application/json"
            )
        return self.world

    def snapshot(self) -> dict[str, Any]:
        world = self._world()
        return {
            "version": world.api.version,
            "lang": self.lang,
            "strings": page_strings(self.tr, self.lang),
            "bot": {"username": world.api.username, "name": world.api.first_name},
            "phones": {role: view.phone_view(world, role) for role in PHONES},
            "text_limit": text_parts.TEXT_LIMIT,
            "notices": view.notices(world),
            "posters": [
                {
                    "lang": p.languages[0],
                    "languages": list(p.languages),
                    "classroom": p.classroom,
                    "code": p.code,
                    "url": f"/posters/{p.languages[0]}.pdf",
                }
                for p in world.posters
            ],
            "poster": world.poster_for(self.lang).languages[0],
        }

    async def _state(self, request: web.Request) -> web.Response:
        """The whole page state; with `since`, held until something changes past it."""
        world = self._world()
        since = request.query.get("since", "")
        if since.isdigit():
            await world.api.wait_for_change(int(since), LONG_POLL_SECONDS)
        return web.json_response(self.snapshot())

    # -- actions -----------------------------------------------------------------------------

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest()
        return body

    def _refused(self, key: str, status: int = 400) -> web.Response:
        text = page_strings(self.tr, self.lang)[key]
        return web.json_response({"error": text}, status=status)

    def _done(self) -> web.Response:
        return web.json_response(self.snapshot())

    @staticmethod
    def _phone(body: dict[str, Any]) -> str:
        role = body.get("phone")
        if role not in PHONES:
            raise web.HTTPBadRequest()
        return str(role)

    @staticmethod
    def _message_id(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    async def _set_lang(self, request: web.Request) -> web.Response:
        """The page's language buttons: the student's phone language and, once the bot knows
        the student, the bot's own /lang flow, so the saved choice follows the page."""
        world = self._world()
        lang = (await self._json(request)).get("lang")
        if lang not in LANGUAGES:
            raise web.HTTPBadRequest()
        async with self._switching:
            try:
                await switch_language(world, str(lang))
            except (AssertionError, Refused):  # no answer in time (wait_for), or none to press
                return self._refused("not_sent", 504)
            self.lang = str(lang)
        return self._done()

    async def _scan(self, request: web.Request) -> web.Response:
        self._world().scan_poster()
        return self._done()

    async def _send(self, request: web.Request) -> web.Response:
        """A text, as Telegram's apps send it: blank is refused with a note, and a text
        longer than one message goes as several, cut where text_parts cuts."""
        world = self._world()
        body = await self._json(request)
        text = body.get("text")
        if not isinstance(text, str):
            raise web.HTTPBadRequest()
        role = self._phone(body)
        if not text.strip():
            return self._refused("empty_message")
        parts = message_parts(text)
        if len(parts) > MAX_PARTS:
            return self._refused("too_long")
        reply_to = self._message_id(body.get("reply_to"))
        try:
            for number, part in enumerate(parts):
                world.write(role, part, reply_to if number == 0 else None)
        except Refused as refused:
            return self._refused(refused.key)
        return self._done()

    async def _measure(self, request: web.Request) -> web.Response:
        """The length of a draft as Telegram counts it, and how many messages it makes."""
        text = (await self._json(request)).get("text")
        if not isinstance(text, str):
            raise web.HTTPBadRequest()
        return web.json_response(
            {
                "units": text_parts.utf16_len(text),
                "parts": len(message_parts(text)),
                "max_parts": MAX_PARTS,
            }
        )

    async def _press(self, request: web.Request) -> web.Response:
        world = self._world()
        body = await self._json(request)
        message_id, data = self._message_id(body.get("message_id")), body.get("data")
        if message_id is None or not isinstance(data, str):
            raise web.HTTPBadRequest()
        role = self._phone(body)
        try:
            world.press(role, message_id, data)
        except Refused as refused:
            return self._refused(refused.key)
        chosen = chosen_language(data)
        if role == STUDENT and chosen is not None:
            # The student chose in the chat: the page's buttons show what the bot now uses.
            self.lang = world.phones[STUDENT].language_code = chosen
        return self._done()

    async def _upload(self, request: web.Request) -> web.Response:
        """multipart: `phone`, optional `reply_to`, then `file`. Read in pieces, so a file
        over the limit is refused without being kept."""
        world = self._world()
        if not request.content_type.startswith("multipart/"):
            raise web.HTTPBadRequest()
        fields: dict[str, str] = {}
        data, name, mime = b"", "file", "application/octet-stream"
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                name = part.filename or name
                mime = part.headers.get("Content-Type", mime).split(";")[0].strip().lower()
                data, over = await _read_up_to(part, ATTACHMENT_LIMIT)
                if over:
                    await _drain(request)
                    return self._refused("too_big", 413)
            elif part.name in {"phone", "reply_to"}:
                fields[part.name] = (await part.read(decode=True))[:32].decode(errors="replace")
        reply_to = fields.get("reply_to", "")
        try:
            world.attach(
                self._phone(fields),
                data,
                name,
                mime,
                int(reply_to) if reply_to.isdigit() else None,
            )
        except Refused as refused:
            return self._refused(refused.key)
        return self._done()

    # -- files -------------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.Response:
        stored = self._world().api.file(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        mime = sniff(stored.data)
        response = web.Response(body=stored.data, content_type=mime or "application/octet-stream")
        if mime is None:
            response.headers["Content-Disposition"] = "attachment"
        return response

    async def _poster(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        if lang not in LANGUAGES:
            raise web.HTTPNotFound()
        poster = self._world().poster_for(lang)
        return web.Response(body=poster.pdf, content_type="application/pdf")


def message_parts(text: str) -> list[str]:
    """The messages a text goes as: itself when it fits one, else its parts."""
    if text_parts.utf16_len(text) <= text_parts.TEXT_LIMIT:
        return [text]
    return text_parts.split(text)


def chosen_language(data: str) -> str | None:
    """The language a student's language button chooses, if `data` is one."""
    try:
        return StudentLanguage.unpack(data).language.value
    except (TypeError, ValueError):
        return None


async def switch_language(world: DemoWorld, lang: str) -> None:
    """The student's phone now speaks `lang`. A bot that has not met the student yet reads
    it from the phone (Telegram's language_code, at /start); one that has keeps the saved
    choice, so the student changes it as anyone would: /lang, then the language's button."""
    student = world.phones[STUDENT]
    previous = student.language_code
    if previous == lang:
        return
    student.language_code = lang
    if not world.api.chat_messages(student.user_id):
        return
    try:
        await _through_lang_command(world, lang)
    except BaseException:
        student.language_code = previous  # not switched: the page shows what the bot uses
        raise


async def _through_lang_command(world: DemoWorld, lang: str) -> None:
    student = world.phones[STUDENT]
    wanted = StudentLanguage(language=Language(lang)).pack()
    start = len(world.api.calls)
    world.write(STUDENT, "/lang")

    def offers_it(call: Call) -> bool:
        keyboard = ((call.message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
        return (
            call.is_send
            and call.chat_id == student.user_id
            and any(button.get("callback_data") == wanted for row in keyboard for button in row)
        )

    offer = await world.api.wait_for(offers_it, LANGUAGE_SWITCH_SECONDS, start=start)
    if offer.message is None:
        raise Refused("not_sent")
    start = len(world.api.calls)
    world.press(STUDENT, int(offer.message["message_id"]), wanted)
    # The bot greets the student in the new language once it has taken the choice; the
    # student's next update runs after this one (one chat's updates run in order).
    await world.api.wait_for(
        lambda call: call.is_send and call.chat_id == student.user_id,
        LANGUAGE_SWITCH_SECONDS,
        start=start,
    )


async def _read_up_to(part: BodyPartReader, limit: int) -> tuple[bytes, bool]:
    """The part's bytes, or (what was read, True) as soon as it is longer than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


async def _drain(request: web.Request) -> None:
    read = 0
    while read < UPLOAD_READ_LIMIT and (chunk := await request.content.read(256 * 1024)):
        read += len(chunk)
