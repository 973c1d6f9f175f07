"""Retention-period keys (bot/crypto/periods.py): random keys in files beside the master key,
made once among racing processes, refused when others may read them, destroyed for good, and
never replaced by another key when one is missing."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.crypto import (
    DecryptionError,
    MasterKey,
    MasterKeyring,
    PeriodKeyMissing,
    PeriodKeyring,
    PseudonymKeys,
    period_of,
)
from bot.crypto.periods import PeriodKeyFileError, period_end
from bot.db.models import Case
from bot.services.security.keys import case_key_context
from bot.services.security.vault import CaseShredded, Vault


def _make(directory: str) -> bytes:
    return PeriodKeyring(Path(directory)).get_or_create("2026-11").secret


def _destroy(directory: str) -> bool:
    return PeriodKeyring(Path(directory)).destroy("2026-11")


def _vault(directory: Path) -> Vault:
    return Vault(
        MasterKeyring(MasterKey.generate()),
        PseudonymKeys.from_root(os.urandom(32)),
        periods=PeriodKeyring(directory),
    )


def _case(code: str, opened: datetime) -> Case:
    return Case(code=code, created_at=opened)


def test_periods_are_utc_months() -> None:
    assert period_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert period_end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("2027-02") == datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_end("2026-13")


def _make_at_signal(directory: str, start: Any, out: Any) -> None:
    start.wait()
    out.put(_make(directory))


def test_racing_processes_make_one_key(tmp_path: Path) -> None:
    directory = tmp_path / "periods"
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    racers = [
        context.Process(target=_make_at_signal, args=(str(directory), start, out))
        for _ in range(6)
    ]
    for racer in racers:
        racer.start()
    start.set()  # all at once
    secrets = [out.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    with ProcessPoolExecutor(max_workers=3) as pool:
        secrets += list(pool.map(_make, [str(directory)] * 6))
    assert len(set(secrets)) == 1  # every process uses the key that won
    assert [p.name for p in directory.iterdir()] == ["2026-11.key"]  # no partial file left
    assert (directory / "2026-11.key").stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    assert PeriodKeyring(directory).get("2026-11").secret == secrets[0]


def test_a_process_that_loses_the_race_uses_the_winner_s_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the race test can only hope to hit: another process links its key
    between this one's write and its link."""
    directory = tmp_path / "periods"
    winner = PeriodKeyring(tmp_path / "elsewhere").get_or_create("2026-11")
    real_link = os.link

    def another_process_first(source: Any, target: Any) -> None:
        Path(target).write_text(
            (tmp_path / "elsewhere" / "2026-11.key").read_text(), encoding="utf-8"
        )
        Path(target).chmod(0o600)
        real_link(source, target)  # FileExistsError, as for the loser

    monkeypatch.setattr("bot.crypto.periods.os.link", another_process_first)
    assert PeriodKeyring(directory).get_or_create("2026-11").secret == winner.secret
    assert [p.name for p in directory.iterdir()] == ["2026-11.key"]  # its partial is gone


def test_a_key_is_destroyed_once_and_is_gone(tmp_path: Path) -> None:
    directory = tmp_path / "periods"
    keyring = PeriodKeyring(directory)
    keyring.get_or_create("2026-11")
    keyring.get_or_create("2026-12")
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_destroy, [str(directory)] * 8))
    assert results.count(True) == 1  # exactly one process destroyed it (and audits it)
    assert keyring.periods() == ["2026-12"]
    assert sorted(p.name for p in directory.iterdir()) == ["2026-12.key"]
    with pytest.raises(PeriodKeyMissing, match="2026-11"):
        keyring.get("2026-11")  # the cached copy went with the file


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    keyring = PeriodKeyring(tmp_path)
    keyring.get_or_create("2026-10")
    (tmp_path / "2026-10.key").chmod(0o640)
    with pytest.raises(PeriodKeyFileError, match="chmod 600"):
        PeriodKeyring(tmp_path).get("2026-10")


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2026-10.key").write_text("not a key\n")
    (tmp_path / "2026-10.key").chmod(0o600)
    with pytest.raises(PeriodKeyFileError, match="one 32-byte key"):
        PeriodKeyring(tmp_path).get("2026-10")


def test_a_leftover_of_a_destroy_that_died_is_swept(tmp_path: Path) -> None:
    keyring = PeriodKeyring(tmp_path)
    keyring.get_or_create("2026-09")
    os.rename(tmp_path / "2026-09.key", tmp_path / ".destroying-2026-09-abc")
    assert keyring.sweep() == 1
    assert list(tmp_path.iterdir()) == []


def test_a_case_opens_only_with_its_period_key(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "periods")
    case = _case("AAAA1111", datetime(2026, 11, 5, tzinfo=UTC))
    key = vault.new_case_key(case)
    assert case.key_period == "2026-11"
    sealed = vault.seal_for_case(case, "msg/1", "body", "мне плохо")
    assert vault.open_text_for_case(case, "msg/1", "body", sealed) == "мне плохо"
    # The master key alone opens only the outer layer: what is inside is no data key.
    inner = vault.keyring.unwrap(case.wrapped_key or b"", case.kek_id or "", "case:AAAA1111")
    assert inner != key.secret and len(inner) > len(key.secret)

    assert vault.periods.destroy("2026-11")
    with pytest.raises(PeriodKeyMissing, match="2026-11"):
        vault.open_text_for_case(case, "msg/1", "body", sealed)  # not from a cache either
    # A new key made for the same month afterwards is another key: it opens nothing old.
    vault.periods.get_or_create("2026-11")
    vault.forget_cached_keys()
    with pytest.raises(DecryptionError):
        vault.open_text_for_case(case, "msg/1", "body", sealed)


def test_a_row_naming_the_wrong_period_is_an_error_not_a_wrong_key(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "periods")
    case = _case("BBBB2222", datetime(2026, 10, 5, tzinfo=UTC))
    vault.new_case_key(case)
    vault.periods.get_or_create("2026-12")
    case.key_period = "2026-12"
    with pytest.raises(DecryptionError, match="2026-12"):
        vault.case_key(case)
    case.key_period = None  # as if from before migration 0016: the master key alone
    with pytest.raises(DecryptionError, match="names no period"):
        vault.case_key(case)


def test_a_case_from_before_period_keys_opens_with_the_master_key(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "periods")
    case = _case("CCCC3333", datetime(2026, 1, 5, tzinfo=UTC))
    secret = os.urandom(32)
    case.wrapped_key, case.kek_id = vault.keyring.wrap(secret, case_key_context(case.code))
    assert vault.case_key(case).secret == secret
    case.wrapped_key = None
    with pytest.raises(CaseShredded):
        vault.case_key(case)


def test_a_vault_without_period_keys_refuses_cases() -> None:
    vault = Vault(MasterKeyring(MasterKey.generate()), PseudonymKeys.from_root(os.urandom(32)))
    with pytest.raises(DecryptionError, match="no retention-period key directory"):
        vault.new_case_key(_case("DDDD4444", datetime(2026, 1, 5, tzinfo=UTC)))


def test_the_period_key_directory_is_where_the_bot_can_write(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.services.security import keys
    from tests.test_deploy_files import compose, our_services

    beside = Settings(master_key_file=tmp_path / "secrets" / "trustline.key", _env_file=None)  # type: ignore[call-arg]
    assert keys.period_key_directory(beside) == tmp_path / "secrets" / "trustline-period-keys"
    named = Settings(period_key_dir=tmp_path / "state" / "periods", _env_file=None)  # type: ignore[call-arg]
    assert keys.period_key_directory(named) == tmp_path / "state" / "periods"
    # In containers the master key is a read-only secret: the period keys go on the state
    # volume every replica shares.
    for name, service in our_services(compose()).items():
        where = service["environment"]["TRUSTLINE_PERIOD_KEY_DIR"]
        assert where.startswith("/var/lib/trustline/state/"), name


def test_a_period_key_directory_the_bot_cannot_use_is_refused_at_start(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.services.errors import ConfigError
    from bot.services.security import keys

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    inside_a_file = Settings(period_key_dir=blocker / "periods", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="TRUSTLINE_PERIOD_KEY_DIR"):
        keys.load_period_keys(inside_a_file)
    open_to_others = tmp_path / "shared"
    open_to_others.mkdir(mode=0o755)
    open_to_others.chmod(0o755)
    with pytest.raises(ConfigError, match="chmod 700"):
        keys.load_period_keys(Settings(period_key_dir=open_to_others, _env_file=None))  # type: ignore[call-arg]
    made = keys.load_period_keys(Settings(period_key_dir=tmp_path / "new", _env_file=None))  # type: ignore[call-arg]
    assert made.directory.is_dir() and made.directory.stat().st_mode & 0o777 == 0o700


def test_a_dead_letter_is_under_its_month_s_key(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "periods")
    when = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    wrapped, kek_id, sealed = vault.seal_dead_letter(42, b'{"update_id": 42}', now=when)
    assert wrapped.startswith(b"P2026-11")
    assert vault.open_dead_letter(42, wrapped, kek_id, sealed) == b'{"update_id": 42}'
    # Sealed before period keys (the master key alone): still opens.
    from bot.crypto import new_data_key, seal_field

    key = new_data_key()
    old_wrapped, old_id = vault.keyring.wrap(key.secret, "dead_letter:43")
    old_sealed = seal_field(key, b"{}", table="dead_letter", row="43", field="update")
    assert vault.open_dead_letter(43, old_wrapped, old_id, old_sealed) == b"{}"

    assert vault.periods.destroy("2026-11")
    with pytest.raises(PeriodKeyMissing, match="2026-11"):
        vault.open_dead_letter(42, wrapped, kek_id, sealed)
