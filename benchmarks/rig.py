"""A bot under test: `trustline run` (or the bare relay) as a child process, polling a fake
Bot API that lives in the benchmark's process, and a TrustLine database seeded as in use:
places, posters, psychologists who joined through real invite links, students who scanned."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from benchmarks.common import (
    BOT_TOKEN,
    ROOT,
    cpu_seconds,
    create_database,
    drop_database,
    fresh_database_name,
    vm_hwm_mb,
)
from benchmarks.workload import Message
from bot.config import Settings
from bot.core import Core, create_core
from bot.db.models import District, OutboxMessage, Poster, School
from bot.domain import Role
from bot.services.organisation import invites, members, org
from bot.services.posters.poster_tokens import make_poster_token
from fake_telegram import Call, FakeBotAPI, TgUser

BOT_USERNAME = "trustline_bench_bot"
# Lift the bot's own send limiter: runs 1 and 2 measure the bot, run 3 measures the limits.
UNLIMITED = {"TRUSTLINE_SEND_PER_SECOND": "100000", "TRUSTLINE_SEND_PER_CHAT_PER_SECOND": "100000"}


class BotProcess:
    """A bot in a child process, its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], name: str) -> None:
        self.argv = argv
        self.env = env
        self.name = name
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tl-bench-{name}-"))
        self.log_path = self.workdir / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss_mb: float | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, api: FakeBotAPI, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Start, and return once the bot polls the fake server."""
        polls = api.polls
        log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while api.polls == polls:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start polling:\n{self.tail()}")
            await asyncio.sleep(0.05)

    def rss_peak(self) -> float | None:
        return vm_hwm_mb(self.pid) if self.proc and self.proc.returncode is None else None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.peak_rss_mb = self.rss_peak()
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def bare_relay(api: FakeBotAPI, staff_chat: int) -> BotProcess:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.bare_relay",
        "--api",
        api.base_url,
        "--token",
        BOT_TOKEN,
        "--staff-chat",
        str(staff_chat),
    ]
    return BotProcess(argv, {**os.environ, "PYTHONPATH": str(ROOT)}, "bare")


@dataclass
class Place:
    district_id: int
    school_ids: list[int]
    poster_tokens: list[str] = field(default_factory=list)


@dataclass
class Psychologist:
    user: TgUser
    district_id: int


class TrustLineRig:
    """A fresh PostgreSQL database, the fake Bot API, the app's Core in-process for seeding and
    reading, and `trustline run` as a child process."""

    def __init__(self, purpose: str) -> None:
        self.db_name = fresh_database_name(purpose)
        self.master_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        # The in-process Core and the bot process chain audit rows with the same key.
        self.audit_key_file = (
            Path(tempfile.mkdtemp(prefix="tl-bench-keys-")) / "trustline-audit.key"
        )
        # Every bot process of the rig (a restarted one too) opens the cases' keys.
        self.period_key_dir = self.audit_key_file.with_name("trustline-period-keys")
        self.api = FakeBotAPI(username=BOT_USERNAME)
        self.app: Core | None = None
        self.bot: BotProcess | None = None
        self.places: list[Place] = []
        self.psychologists: list[Psychologist] = []
        self.database_url = ""

    async def __aenter__(self) -> TrustLineRig:
        self.database_url = await create_database(self.db_name)
        await self.api.serve()
        settings = Settings(
            bot_token=BOT_TOKEN,
            database_url=self.database_url,
            master_key=self.master_key,
            telegram_api=self.api.base_url,
            bot_username=BOT_USERNAME,
            # The audit key is made beside it (unused: the master key is given).
            master_key_file=self.audit_key_file.with_name("trustline.key"),
            period_key_dir=self.period_key_dir,
            _env_file=None,
        )
        # Creates the pseudonym keys before the bot process starts, so both agree.
        self.app = await create_core(settings, migrate=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot.cleanup()
        if self.app is not None:
            await self.app.close()
        await self.api.close()
        await drop_database(self.db_name)
        shutil.rmtree(self.audit_key_file.parent, ignore_errors=True)

    @property
    def a(self) -> Core:
        assert self.app is not None
        return self.app

    def bot_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
        env.update(
            {
                "TRUSTLINE_BOT_TOKEN": BOT_TOKEN,
                "TRUSTLINE_DATABASE_URL": self.database_url,
                "TRUSTLINE_MASTER_KEY": self.master_key,
                "TRUSTLINE_TELEGRAM_API": self.api.base_url,
                "TRUSTLINE_BOT_USERNAME": BOT_USERNAME,
                "TRUSTLINE_AUDIT_KEY_FILE": str(self.audit_key_file),
                "TRUSTLINE_PERIOD_KEY_DIR": str(self.period_key_dir),
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(extra or {})
        return env

    async def start_bot(self, extra_env: dict[str, str] | None = None) -> BotProcess:
        if self.bot is not None:
            await self.bot.stop()
            self.bot.cleanup()
        trustline = shutil.which("trustline")
        argv = [trustline, "run"] if trustline else [sys.executable, "-m", "bot.cli", "run"]
        self.bot = BotProcess(argv, self.bot_env(extra_env), "trustline")
        await self.bot.start(self.api)
        return self.bot

    # --- seeding ---------------------------------------------------------------------------

    async def seed_places(self, districts: int, schools_per_district: int) -> list[Place]:
        lines = ["country,region,district,school,languages"]
        for d in range(districts):
            for s in range(schools_per_district):
                lines.append(f'KG,Бишкек,Район {d + 1},Школа № {d * 100 + s + 1},"ky,ru"')
        async with self.a.sessionmaker() as session, session.begin():
            await org.import_rows(session, org.parse_csv("\n".join(lines) + "\n"))
            rows = (
                await session.execute(
                    select(District.id, School.id)
                    .join(School, School.district_id == District.id)
                    .order_by(District.id, School.id)
                )
            ).all()
            by_district: dict[int, Place] = {}
            for district_id, school_id in rows:
                by_district.setdefault(district_id, Place(district_id, [])).school_ids.append(
                    school_id
                )
            now = datetime.now(UTC)
            for place in by_district.values():
                for school_id in place.school_ids:
                    poster = Poster(
                        school_id=school_id, classroom="7A", languages="ky,ru", created_at=now
                    )
                    session.add(poster)
                    await session.flush()
                    place.poster_tokens.append(
                        make_poster_token(self.a.rt.vault.pseudonyms.poster, poster.id)
                    )
        self.places = list(by_district.values())
        return self.places

    async def join_psychologists(self, per_district: int, first_id: int = 20_000_000) -> None:
        """Psychologists open real invite links through the running bot."""
        users: list[Psychologist] = []
        for place in self.places:
            for _ in range(per_district):
                user = TgUser(
                    first_id + len(self.psychologists) + len(users), "Psy", language_code="ru"
                )
                async with self.a.sessionmaker() as session, session.begin():
                    scope = await members.scope_of(session, district_id=place.district_id)
                    created = await invites.create_invite(
                        session, self.a.rt, Role.PSYCHOLOGIST, scope, by=None
                    )
                self.api.start(user, created.link.split("?start=", 1)[1])
                users.append(Psychologist(user, place.district_id))
        self.psychologists += users
        await self.settle()

    def scan_posters(self, students: list[TgUser]) -> None:
        """Each student opens the bot from a classroom poster (spread over all schools)."""
        tokens = [t for place in self.places for t in place.poster_tokens]
        for i, user in enumerate(students):
            self.api.start(user, tokens[i % len(tokens)])

    async def sessions_started(self) -> int:
        """Connections ever opened to this database (pg_stat_database.sessions), this
        process's included: the difference over a window is the pool's churn."""
        async with self.a.engine.connect() as conn:
            count = await conn.scalar(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            )
        return int(count or 0)

    async def backends_of(self, pid: int) -> set[int]:
        """The PostgreSQL backends serving process `pid`: its TCP connections' local ports
        matched to pg_stat_activity.client_port."""
        try:
            ports = [
                c.laddr.port
                for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.raddr and c.status == psutil.CONN_ESTABLISHED
            ]
        except psutil.Error:
            return set()
        if not ports:
            return set()
        async with self.a.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(:ports)"),
                {"ports": ports},
            )
            return {int(row[0]) for row in rows}

    # --- waiting ---------------------------------------------------------------------------

    async def unsent(self) -> int:
        """Outbox rows not yet sent. Asked again for up to a minute when the connection
        broke: other work on the machine restarts PostgreSQL now and then (its fault
        tests), and the bot rides that out; the CPU windows then say so."""
        deadline = time.monotonic() + 60
        while True:
            try:
                async with self.a.sessionmaker() as session:
                    count = await session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status.in_(("pending", "sending")))
                    )
                return int(count or 0)
            except DBAPIError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)

    async def confirmed(self, timeout: float = 600.0) -> float:  # noqa: ASYNC109
        """Wait until the bot has confirmed every pushed update; the fake server's clock then."""
        deadline = time.monotonic() + timeout
        while self.api.pending_updates:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.api.pending_updates} updates not confirmed")
            self._check_alive()
            await asyncio.sleep(0.005)
        return self.api.clock()

    async def settle(self, timeout: float = 600.0) -> None:  # noqa: ASYNC109
        """Every update confirmed and every outbox row delivered (or given up on)."""
        await self.confirmed(timeout)
        deadline = time.monotonic() + timeout
        while await self.unsent():
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            self._check_alive()
            await asyncio.sleep(0.1)

    def _check_alive(self) -> None:
        if (
            self.bot is not None
            and self.bot.proc is not None
            and self.bot.proc.returncode is not None
        ):
            raise RuntimeError(f"the bot exited:\n{self.bot.tail()}")


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one process, over a window.

    Attributed through the process's own connections, so other work on the same server
    (tests, other benchmarks) is not counted. A backend that ends inside the window loses
    its last CPU (`vanished` counts them: with a fixed pool, none); one that starts inside
    it counts whole."""

    def __init__(self, rig: TrustLineRig, pid: int) -> None:
        self.rig = rig
        self.pid = pid
        self._start: dict[int, float] = {}
        self.used = 0.0
        self.vanished = 0
        self.backends = 0

    async def start(self) -> None:
        self._start = {b: cpu_seconds(b) for b in await self.rig.backends_of(self.pid)}

    async def stop(self) -> float:
        now = await self.rig.backends_of(self.pid)
        self.used = sum(cpu_seconds(b) - self._start.get(b, 0.0) for b in now)
        self.vanished = len(set(self._start) - now)
        self.backends = len(now)
        return self.used


class Arrivals:
    """First arrival (fake server clock) of each key among the calls the bot made."""

    def __init__(self, api: FakeBotAPI, key: Callable[[Call], int | None], start: int = 0):
        self.api = api
        self.key = key
        self.pos = start
        self.at: dict[int, float] = {}

    def scan(self) -> None:
        calls = self.api.calls
        for call in calls[self.pos :]:
            if call.ok:
                k = self.key(call)
                if k is not None and k not in self.at:
                    self.at[k] = call.at
        self.pos = len(calls)

    async def wait(self, keys: set[int], timeout: float) -> set[int]:  # noqa: ASYNC109
        """Wait until every key arrived; returns those still missing at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.scan()
            missing = keys - self.at.keys()
            if not missing or time.monotonic() > deadline:
                return missing
            await asyncio.sleep(0.01)


def push_all(api: FakeBotAPI, messages: list[Message]) -> dict[int, int]:
    """Queue every message at once; marker -> update id."""
    return {m.seq: api.text_message(m.user, m.text)["update_id"] for m in messages}


def take_codes(calls: list[Call], psychologists: dict[int, TgUser]) -> dict[str, TgUser]:
    """Case code -> a psychologist who got its card with a Take button."""
    found: dict[str, TgUser] = {}
    for call in calls:
        if call.chat_id not in psychologists or not call.ok:
            continue
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            continue
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = str(button.get("callback_data", ""))
                if data.startswith("take:"):
                    found.setdefault(data.removeprefix("take:"), psychologists[call.chat_id])
    return found
