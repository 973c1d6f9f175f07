"""Run Alembic migrations programmatically (`trustline db upgrade`, and at start)."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and Pygments) is imported only when migrations run: `trustline run`
# on PostgreSQL never needs it, and it held ~30 MB of the bot's memory
# (benchmarks/BENCHMARKS.md, "memory").

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url)
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    # env.py runs its own event loop; keep it off ours.
    await asyncio.to_thread(upgrade, database_url)


def migration_heads(directory: Path = MIGRATIONS_DIR / "versions") -> frozenset[str]:
    """The head revisions of migrations/versions, read from the files' `revision` and
    `down_revision` (Alembic is not imported by the running bot, see above):
    what /readyz and the CLI's check before a command compare the database with."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in directory.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            if target.id == "revision":
                revisions.add(str(ast.literal_eval(node.value)))
            elif target.id == "down_revision":
                down = ast.literal_eval(node.value)
                if isinstance(down, str):
                    parents.add(down)
                elif isinstance(down, tuple | list):
                    parents.update(str(d) for d in down)
    return frozenset(revisions - parents)
