"""Every user-facing string is in the ky, kk and ru catalogues, translated, and none is
written straight into a handler."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.domain import Language
from bot.i18n import compile_catalogues
from tools.i18n_extract import ROOT, catalogue, extract_msgids, missing

PLACEHOLDER = re.compile(r"\{(\w+)\}")
SENDING_METHODS = {
    "answer",
    "reply",
    "send_message",
    "edit_text",
    "edit_message_text",
    "answer_document",
    "answer_photo",
    "send_document",
    "send_photo",
    "edit_caption",
}


@pytest.fixture(scope="module")
def msgids() -> dict[str, list[str]]:
    found = extract_msgids()
    assert len(found) > 30, "extraction found suspiciously few strings"
    return found


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
def test_every_string_is_translated(lang: str, msgids: dict[str, list[str]]) -> None:
    gaps = missing(lang, msgids)
    assert not gaps, f"{lang}: {len(gaps)} untranslated, e.g. {gaps[:5]}"


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
def test_no_empty_or_stray_entries(lang: str, msgids: dict[str, list[str]]) -> None:
    entries = catalogue(lang)
    empty = [m for m, v in entries.items() if not v.strip()]
    assert not empty, f"{lang}: empty translations {empty[:5]}"


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
def test_placeholders_match(lang: str) -> None:
    for msgid, value in catalogue(lang).items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(value)), (
            f"{lang}: placeholders differ in {msgid!r}"
        )


def test_translations_differ_between_languages(msgids: dict[str, list[str]]) -> None:
    """Kyrgyz and Kazakh are not Russian with other letters: long strings must differ."""
    ky, kk, ru = (catalogue(lang.value) for lang in (Language.KY, Language.KK, Language.RU))
    long_ids = [m for m in msgids if len(m) > 40 and m in ky and m in kk and m in ru]
    same = [m for m in long_ids if ky[m] == ru[m] or kk[m] == ru[m] or ky[m] == kk[m]]
    assert not same, f"identical translations across languages: {same[:3]}"


def test_catalogues_compile(tmp_path: Path) -> None:
    out = compile_catalogues(target=tmp_path)
    for lang in Language:
        assert (out / lang.value / "LC_MESSAGES" / "messages.mo").stat().st_size > 100


def _literal_text_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in SENDING_METHODS:
            continue
        candidates = list(node.args[:1]) + [k.value for k in node.keywords if k.arg == "text"]
        for arg in candidates:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                problems.append(f"{path.name}:{node.lineno}")
            if isinstance(arg, ast.JoinedStr):
                problems.append(f"{path.name}:{node.lineno} (f-string)")
    return problems


def test_no_user_facing_string_in_handlers() -> None:
    problems: list[str] = []
    for path in sorted((ROOT / "handlers").glob("*.py")):
        problems += _literal_text_calls(path)
    assert not problems, f"strings sent without translation: {problems}"


def test_the_check_catches_a_literal(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('async def h(m):\n    await m.answer("Hello there")\n')
    assert _literal_text_calls(sample) == ["sample.py:2"]
