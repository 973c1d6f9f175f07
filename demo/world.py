"""The demo's world: a Bot API stand-in on loopback, a fresh database in a temporary folder
set up as an operator would (`db upgrade`, `org import`, `posters`, `invite`), and the bot
itself run by `trustline run`'s own code against the stand-in.

Two members join through real invite links; the student and the psychologist are driven by
the page, as a person in Telegram would drive them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.run import serve
from bot.config import Settings
from bot.core import opened_core
from bot.domain import Language, Role
from bot.services.organisation import invites, members, org
from bot.services.posters import posters
from bot.services.posters.poster_tokens import make_poster_token
from bot.services.runtime import Runtime
from bot.stopping import wait_bounded
from fake_telegram import FakeBotAPI, TgUser
from fake_telegram.methods import PHOTO_UPLOAD_LIMIT

BOT_USERNAME = "trustline_demo_bot"
# Shaped like a token so aiogram accepts it; only the stand-in ever sees it.
BOT_TOKEN = "7000000001:DEMO-local-stand-in-not-a-telegram-token"  # noqa: S105
# One fictional school. Its posters come in both pairs of languages the line speaks, so a
# student of any of the three languages finds one they read.
ORG_CSV = (
    "country,region,district,school,languages\n"
    'KZ,Демо облысы,Демо ауданы,№ 1 демо мектебі,"kk,ru"\n'
)
POSTER_PRINTS = ((("kk", "ru"), "7А"), (("ky", "ru"), "7Б"))
STUDENT, PSYCHOLOGIST, SUPERVISOR = "student", "psychologist", "supervisor"
JOIN_TIMEOUT = 30.0
DEMO_STOP_SECONDS = 20.0  # the bot's own stop is bounded well inside this
TEXT_LIMIT = 4096  # Telegram's longest message
# The demo takes attachments up to Telegram's limit for photos; bigger ones are refused
# before they reach the stand-in.
ATTACHMENT_LIMIT = PHOTO_UPLOAD_LIMIT
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class Refused(Exception):
    """Something a person on the page tried that Telegram would not let through; `key`
    names the page string that says so."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class DemoSettings(Settings):
    """Exactly what the demo passes in: a real token, database or key in the environment
    (or a .env file) is never touched by a demo."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class Phone:
    """A Telegram account on the page. Its private chat with the bot has its id."""

    role: str
    user_id: int
    first_name: str
    language_code: str

    def user(self) -> TgUser:
        return TgUser(self.user_id, self.first_name, language_code=self.language_code)


@dataclass(frozen=True, slots=True)
class DemoPoster:
    languages: tuple[str, ...]
    classroom: str
    code: str
    token: str  # the `start` parameter in its QR code
    pdf: bytes


@dataclass
class DemoWorld:
    api: FakeBotAPI
    settings: Settings
    phones: dict[str, Phone]
    posters: tuple[DemoPoster, ...]
    # The bot, run by `trustline run`'s own code; it runs until the demo stops.
    bot: asyncio.Task[None]
    # callback_query id -> the phone that pressed (its answers show as a toast there)
    presses: dict[str, str] = field(default_factory=dict)

    def poster_for(self, lang: str) -> DemoPoster:
        """The poster a student reading `lang` scans: the first that speaks it."""
        for poster in self.posters:
            if lang in poster.languages:
                return poster
        return self.posters[0]

    # -- what the people on the page do, as Telegram would deliver it ---------------------

    def scan_poster(self) -> None:
        """The student points the camera at the poster: Telegram opens the bot with
        `/start <the poster's token>`."""
        student = self.phones[STUDENT]
        self.api.start(student.user(), self.poster_for(student.language_code).token)

    def write(self, role: str, text: str, reply_to: int | None = None) -> None:
        phone = self.phones[role]
        if not text.strip():
            raise Refused("not_sent")
        if len(text) > TEXT_LIMIT:
            raise Refused("too_long")
        fields: dict[str, Any] = {}
        if text.startswith("/"):  # the app marks a leading command, as Telegram's does
            command = text.split(maxsplit=1)[0]
            length = len(command.encode("utf-16-le")) // 2
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.api.text_message(
            phone.user(), text, reply_to=self._existing(phone, reply_to), **fields
        )

    def press(self, role: str, message_id: int, data: str) -> None:
        """A button of a bot message in this phone's chat (only one it really offers)."""
        phone = self.phones[role]
        message = self.api.message(phone.user_id, message_id)
        rows = (message or {}).get("reply_markup", {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == data for row in rows for button in row):
            raise Refused("not_sent")
        update = self.api.callback_query(phone.user(), data, message_id)
        self.presses[update["callback_query"]["id"]] = role

    def attach(
        self, role: str, data: bytes, file_name: str, mime_type: str, reply_to: int | None = None
    ) -> None:
        """A photo (as the app sends pictures) or any other file, as a document."""
        phone = self.phones[role]
        if not data:
            raise Refused("empty_file")
        if len(data) > ATTACHMENT_LIMIT:
            raise Refused("too_big")
        reply = self._existing(phone, reply_to)
        if mime_type in PHOTO_TYPES:
            self.api.photo_message(phone.user(), data=data, reply_to=reply)
        else:
            self.api.document_message(
                phone.user(), data, file_name=file_name, mime_type=mime_type, reply_to=reply
            )

    def _existing(self, phone: Phone, message_id: int | None) -> int | None:
        """A reply only to a message still in the chat (else the message goes unquoted)."""
        if message_id is None or self.api.message(phone.user_id, message_id) is None:
            return None
        return message_id


def demo_settings(folder: Path, telegram_api: str, *, urgent_take_minutes: int = 5) -> Settings:
    return DemoSettings(
        bot_token=SecretStr(BOT_TOKEN),
        bot_username=BOT_USERNAME,
        database_url=f"sqlite+aiosqlite:///{folder / 'demo.sqlite3'}",
        master_key=SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode()),
        master_key_file=folder / "unused.key",
        telegram_api=telegram_api,
        urgent_take_minutes=urgent_take_minutes,
    )


async def _set_up_database(settings: Settings) -> tuple[tuple[DemoPoster, ...], list[str]]:
    """What an operator does before `trustline run`: migrate, import the organisation,
    print the school's posters and invite a supervisor and a psychologist."""
    async with opened_core(settings, migrate=True) as core:
        async with core.sessionmaker() as session, session.begin():
            return await _operator_steps(session, core.rt)


async def _operator_steps(
    session: AsyncSession, rt: Runtime
) -> tuple[tuple[DemoPoster, ...], list[str]]:
    await org.import_rows(session, org.parse_csv(ORG_CSV))
    school = await org.find_school(session, "№ 1 демо мектебі")
    printed = []
    for languages, classroom in POSTER_PRINTS:
        job = await posters.print_posters(
            session, rt, school.id, (classroom,), languages, actor="cli"
        )
        poster = job.posters[0]
        token = make_poster_token(rt.vault.pseudonyms.poster, poster.poster_id)
        printed.append(DemoPoster(job.languages, classroom, poster.code, token, job.pdf))
    district = await members.scope_of(session, district_id=school.district_id)
    region = await members.scope_of(session, region_id=district.region_id)
    links = [
        (await invites.create_invite(session, rt, Role.SUPERVISOR, region, by=None)).link,
        (await invites.create_invite(session, rt, Role.PSYCHOLOGIST, district, by=None)).link,
    ]
    return tuple(printed), [link.split("?start=", 1)[1] for link in links]


async def _join(api: FakeBotAPI, phone: Phone, payload: str) -> None:
    """Open the invite link as Telegram delivers it, and wait for the welcome."""
    start = len(api.calls)
    api.start(phone.user(), payload)
    await api.wait_for_count(
        lambda call: call.chat_id == phone.user_id and call.is_send,
        2,
        JOIN_TIMEOUT,
        start=start,
    )


async def _unless_it_stops(bot: asyncio.Task[None], step: Any) -> None:
    """Run `step` while the bot runs; if the bot stops first, its error is the answer."""
    waiting = asyncio.ensure_future(step)
    await asyncio.wait({bot, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        bot.result()  # raises what stopped it
        raise RuntimeError("the demo bot stopped while starting")
    waiting.result()


@contextlib.asynccontextmanager
async def running_world(
    lang: str = Language.RU.value, **overrides: Any
) -> AsyncIterator[DemoWorld]:
    """The stand-in, the bot polling it, and the demo's people, until the block ends; then
    everything stops and the temporary folder (database included) is deleted."""
    with tempfile.TemporaryDirectory(prefix="trustline-demo-") as folder:
        async with FakeBotAPI(username=BOT_USERNAME, first_name="TrustLine") as api:
            settings = demo_settings(Path(folder), api.base_url, **overrides)
            printed, (supervisor_join, psychologist_join) = await _set_up_database(settings)
            phones = {
                STUDENT: Phone(STUDENT, 100001, "Student", lang),
                PSYCHOLOGIST: Phone(PSYCHOLOGIST, 200001, "Psychologist", lang),
                SUPERVISOR: Phone(SUPERVISOR, 300001, "Supervisor", lang),
            }
            bot = asyncio.create_task(serve(settings), name="demo-bot")
            try:
                joins = asyncio.gather(
                    _join(api, phones[SUPERVISOR], supervisor_join),
                    _join(api, phones[PSYCHOLOGIST], psychologist_join),
                )
                await _unless_it_stops(bot, joins)
                yield DemoWorld(api, settings, phones, printed, bot)
            finally:
                bot.cancel()  # once: `trustline run` then stops in bounded steps
                await wait_bounded("demo_bot", [bot], DEMO_STOP_SECONDS)
