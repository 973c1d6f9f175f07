"""What every benchmark shares: figures, percentiles, the machine, load, PostgreSQL."""

from __future__ import annotations

import gc
import os
import platform
import re
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import upgrade_async

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN_URL = os.environ.get(
    "TRUSTLINE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BOT_TOKEN = "123456789:AAHbenchTokenForTheFakeApiOnly_abcdefg"


@dataclass
class Figure:
    """One reported number, with the reference it is measured beside and its target."""

    name: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference:
            return None
        return self.value / self.reference


@dataclass
class Result:
    """A benchmark's outcome: figures, details for the JSON, and the load around it."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    error: str | None = None

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for figure, raw in zip(self.figures, data["figures"], strict=True):
            raw["ratio"] = figure.ratio
        return data


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); the p99 of 100 samples is the largest but one."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def settle_gc() -> None:
    """Collect, then freeze what exists (as `trustline run` does after start), so that a
    full collection of this process's setup does not land inside a measurement."""
    gc.collect()
    gc.freeze()


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def _pg_version() -> str:
    try:
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import aiogram
    import sqlalchemy

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": _pg_version(),
        "aiogram": aiogram.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "os": platform.platform(),
        "git": _git_head(),
        # Files differing from that commit when the run started (others' work in progress
        # runs too: the bot under test is the working tree).
        "git_modified": _git_modified(),
    }


def _git_modified() -> list[str]:
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--",
                "bot",
                "handlers",
                "migrations",
                "qr_posters",
                "locales",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return [line[3:] for line in out.stdout.splitlines()]
    except (OSError, subprocess.SubprocessError):
        return []


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# --- PostgreSQL ----------------------------------------------------------------------------


def database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def fresh_database_name(purpose: str) -> str:
    return f"trustline_bench_{purpose}_{uuid.uuid4().hex[:6]}"


async def create_database(name: str) -> str:
    """A new empty database `name` (dropped first if a crashed run left it), migrated."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(name)
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()
    url = database_url(name)
    await upgrade_async(url)
    return url


async def drop_database(name: str) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


# --- processes -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL process (server and backends), each with the
    CPU of its children that exited and were reaped (`cutime`+`cstime` in /proc/<pid>/stat).

    A backend is a child of the postmaster: while it lives its CPU is its own, once it
    exits the kernel adds it to the postmaster's children times. Summing only the live
    processes (as before issue 17) lost the CPU of every backend that ended within the
    window, and a pool that churns connections ends many."""
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] in ("postgres", "postmaster") and proc.info["cpu_times"]:
            times = proc.info["cpu_times"]
            found[proc.pid] = float(
                times.user + times.system + times.children_user + times.children_system
            )
    return found


def postmaster_pids() -> set[int]:
    """The PostgreSQL server processes that are not another PostgreSQL process's child."""
    found: dict[int, int] = {}
    for proc in psutil.process_iter(["name", "ppid"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            found[proc.pid] = proc.info["ppid"]
    return {pid for pid, parent in found.items() if parent not in found}


def postgres_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """The server's CPU between two samples: totals, not per process, so a backend alive at
    the first sample and gone at the second counts once (its time moved into the
    postmaster's children times), and one born and gone in between counts too."""
    return sum(after.values()) - sum(before.values())


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class CpuWindow:
    """CPU seconds used by named processes (and PostgreSQL) between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._pg: dict[int, float] = {}
        self._t0 = 0.0
        self.used: dict[str, float] = {}
        self.wall = 0.0
        self._postmasters: set[int] = set()
        self.postgres_restarted = False

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._pg = postgres_cpu()
        self._postmasters = postmaster_pids()

    def stop(self) -> dict[str, float]:
        self.wall = time.perf_counter() - self._t0
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        self.used["postgresql"] = postgres_cpu_delta(self._pg, postgres_cpu())
        # A server restarted in the window (another job on the machine) took its children's
        # times with it: no figure rather than a wrong one.
        self.postgres_restarted = postmaster_pids() != self._postmasters
        if self.postgres_restarted:
            self.used["postgresql"] = float("nan")
        return self.used

    def cpu_ms_per(self, name: str, count: int) -> float:
        """CPU milliseconds `name` used per unit of work (less sensitive to other load on
        the machine than wall-clock rates)."""
        return round(self.used.get(name, 0.0) / max(count, 1) * 1000, 2)

    def utilisation(self) -> dict[str, float]:
        """Share of one core each used over the window (1.0 = a whole core)."""
        if self.wall <= 0:
            return {}
        return {name: round(used / self.wall, 2) for name, used in self.used.items()}
