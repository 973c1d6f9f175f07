"""English plurals in the CLI's output: "1 poster", "2 posters", "1 new school", "an invite
for a staff member", never "1 posters" or "a staff"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.cli.wording import a_role, counted
from bot.domain import Role

ONE_SCHOOL = "country,region,district,school,languages\nKG,Нарын,Ат-Башы району,Школа № 7,ky\n"


@pytest.mark.parametrize(
    ("count", "one", "many", "expected"),
    [
        (1, "poster", None, "1 poster"),
        (2, "poster", None, "2 posters"),
        (0, "key", None, "0 keys"),
        (1, "key", None, "1 key"),
        (21, "key", None, "21 keys"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
        (1, "row is", "rows are", "1 row is"),
        (5, "row is", "rows are", "5 rows are"),
    ],
)
def test_counted(count: int, one: str, many: str | None, expected: str) -> None:
    assert counted(count, one, many) == expected


def test_roles_take_their_article() -> None:
    assert [a_role(role) for role in Role] == ["a supervisor", "a psychologist", "a staff member"]


async def _cli(monkeypatch: pytest.MonkeyPatch, url: str, key: str, *argv: str) -> int:
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", url)
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", key)
    monkeypatch.setenv("TRUSTLINE_BOT_USERNAME", "trustline_test_bot")
    return await asyncio.to_thread(cli_main, list(argv))


async def test_one_school_imported_and_a_staff_member_invited(
    database_url: str,
    master_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "one.csv"
    csv.write_text(ONE_SCHOOL, encoding="utf-8")
    assert await _cli(monkeypatch, database_url, master_key, "org", "import", str(csv)) == 0
    out = capsys.readouterr().out
    assert "1 new school, 0 updated, 0 already present; 1 new region, 1 new district." in out
    code = await _cli(
        monkeypatch, database_url, master_key, "invite", "staff", "--school", "Школа № 7"
    )
    out = capsys.readouterr().out
    assert code == 0, out
    first = out.splitlines()[0]
    assert first.startswith("One-time invite for a staff member of "), first
    assert " hours, works once." in first or " 1 hour, works once." in first
