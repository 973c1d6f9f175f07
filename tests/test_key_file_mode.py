"""Issue 15, point 9: a master key file the group or others may read is refused with one
line that says how to fix it; the key is never read from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.crypto import MasterKey
from bot.services.errors import ConfigError
from bot.services.security import keys
from tests.test_bad_input_config import clean_env, one_sentence

__all__ = ["clean_env"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_readable_by_others_is_refused(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, mode: int
):
    key_file = tmp_path / "master.key"
    keys.write_key_file(key_file, [MasterKey.generate()])
    key_file.chmod(mode)
    clean_env.setenv("TRUSTLINE_MASTER_KEY_FILE", str(key_file))
    assert main(["run"]) == 2
    said = one_sentence(capsys)
    assert str(key_file) in said and f"chmod 600 {key_file}" in said
    with pytest.raises(ConfigError):
        keys.read_key_file(key_file)


def test_a_key_file_only_its_owner_reads_is_loaded(tmp_path: Path):
    key_file = tmp_path / "master.key"
    key = MasterKey.generate()
    keys.write_key_file(key_file, [key])
    key_file.chmod(0o400)
    assert [k.key_id for k in keys.read_key_file(key_file)] == [key.key_id]
