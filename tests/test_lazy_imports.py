"""The bot starts without the libraries only some commands need (issue 17: peak memory
within 30 MB of a bare aiogram relay): charts (matplotlib, numpy), posters (reportlab,
fontTools, qrcode, numpy), photo reading and file cleaning (zxing-cpp, Pillow), migrations
(Alembic) are imported where they are used, not when `trustline run` assembles the bot.

Checked in a fresh interpreter: what `trustline run` imports, and the whole assembly
(`create_app`: routers, middlewares, the outbox sender; the workers' module), against a
migrated SQLite database."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import TEST_TOKEN, _sqlite_database

ROOT = Path(__file__).resolve().parent.parent
NOT_AT_START = (
    "matplotlib",
    "numpy",
    "reportlab",
    "fontTools",
    "qrcode",
    "zxingcpp",
    "PIL",
    "alembic",
    "sklearn",
)

ASSEMBLE = textwrap.dedent(
    """
    import asyncio, json, sys

    import bot.cli.run  # what `trustline run` imports
    import bot.workers  # started by the app after the assembly
    from bot.app import create_app
    from bot.config import Settings

    async def main() -> None:
        settings = Settings(
            bot_token=sys.argv[1],
            database_url=sys.argv[2],
            master_key=sys.argv[3],
            master_key_file=sys.argv[4],
            _env_file=None,
        )
        app = await create_app(settings, migrate=False)
        await app.close()

    asyncio.run(main())
    top = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps(top))
    """
)


def _imported_at_start(tmp_path: Path, database_url: str) -> set[str]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            ASSEMBLE,
            TEST_TOKEN,
            database_url,
            key,
            str(tmp_path / "trustline.key"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


async def test_the_bot_starts_without_heavy_libraries(tmp_path: Path) -> None:
    database_url = await _sqlite_database(tmp_path)
    imported = _imported_at_start(tmp_path, database_url)
    assert "aiogram" in imported and "sqlalchemy" in imported  # the assembly did run
    assert sorted(imported & set(NOT_AT_START)) == []


def test_the_photo_reader_loads_its_libraries_when_used() -> None:
    """The other side: reading a photo still works, loading Pillow and zxing-cpp then."""
    probe = textwrap.dedent(
        """
        import sys
        from qr_posters import PhotoProblem, read_poster_photo
        assert "zxingcpp" not in sys.modules and "PIL" not in sys.modules
        reading = read_poster_photo(b"not an image")
        assert reading.problem is PhotoProblem.NOT_AN_IMAGE, reading
        assert "zxingcpp" in sys.modules and "PIL" in sys.modules
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
