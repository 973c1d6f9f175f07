"""`trustline doctor`: is this installation fit to take a child's message?

Checks the database (reachable, migrations current) and that every region and district is
covered by an active psychologist (bot.services.routing.pool_policy); prints one line per finding
and exits 1 when anything needs attention. The token, key file and webhook checks that
DESIGN.md also lists are not made here yet.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy import text

from bot.cli.common import load_settings
from bot.config import Settings
from bot.db.migrate import alembic_config
from bot.db.session import make_engine, make_sessionmaker
from bot.services.routing import pool_policy
from bot.services.routing.pool_policy import Uncovered


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the database, migrations and psychologists' coverage"
    )
    parser.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    problems = asyncio.run(diagnose(load_settings(), print))
    return 1 if problems else 0


def _heads(database_url: str) -> set[str]:
    from alembic.script import ScriptDirectory  # only here: see bot.db.migrate

    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def describe(place: Uncovered) -> str:
    if place.level == "region":
        return (
            f"region «{place.name}» has no active psychologist: its cases go to the "
            "country's duty pool"
        )
    return (
        f"district «{place.name}» ({place.region_name}) has no psychologist of its own "
        "and no region-wide one: its cases go to the region's other psychologists"
    )


async def diagnose(settings: Settings, say: Any) -> int:
    """Print what was checked; return the number of problems found."""
    engine = make_engine(settings.database_url)
    problems = 0
    try:
        try:
            async with engine.connect() as conn:
                current = set(
                    (await conn.execute(text("SELECT version_num FROM alembic_version")))
                    .scalars()
                    .all()
                )
        except Exception as exc:  # noqa: BLE001 — any failure here is the finding
            say(
                f"database: not usable ({type(exc).__name__}); run `trustline db upgrade` "
                "or check TRUSTLINE_DATABASE_URL"
            )
            return 1
        heads = await asyncio.to_thread(_heads, settings.database_url)
        if current != heads:
            say("migrations: not current; run `trustline db upgrade`")
            return 1
        say("database: reachable, migrations current")
        async with make_sessionmaker(engine)() as session:
            uncovered = await pool_policy.uncovered_places(session)
        for place in uncovered:
            say(f"coverage: {describe(place)}")
            problems += 1
        if not uncovered:
            say("coverage: every region and district has a psychologist")
    finally:
        await engine.dispose()
    return problems
