"""Counts shown to people take the plural form of their language (ngettext over the
catalogues' Plural-Forms): Russian has three forms, Kyrgyz and Kazakh say every count one
way; every plural entry is complete in every catalogue."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.delivery import notices
from bot.domain import Language
from bot.i18n import DOMAIN, LOCALES_DIR, Translator, make_i18n
from bot.services.casework.notify import waiting
from bot.services.reporting.stats_text import format_duration
from tools.i18n_extract import KEYWORDS, ROOT, SOURCE_DIRS

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.fixture(scope="module")
def tr() -> Translator:
    return Translator(make_i18n())


def _plural_msgids_in_code() -> set[str]:
    found = set()
    for folder in SOURCE_DIRS:
        for _file, _line, message, _c, _ctx in extract_from_dir(
            str(ROOT / folder), method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            if isinstance(message, tuple) and len([m for m in message if m]) >= 2:
                found.add(message[0])
    return found


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
def test_every_plural_entry_has_all_its_forms(lang: str) -> None:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    plural_ids = {m.id[0]: m for m in catalog if m.id and m.pluralizable}
    in_code = _plural_msgids_in_code()
    assert "{days} day" in in_code
    assert in_code <= set(plural_ids), f"{lang}: counted in code, singular here"
    for msgid, message in plural_ids.items():
        forms = list(cast(tuple[str, ...], message.string))
        assert len(forms) == catalog.num_plurals and all(f.strip() for f in forms), (lang, msgid)
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == set(PLACEHOLDER.findall(msgid)), msgid


@pytest.mark.parametrize(
    ("lang", "days", "expected"),
    [
        ("ru", 2, "2 дня"),
        ("ru", 5, "5 дней"),
        ("ru", 11, "11 дней"),
        ("ru", 21, "21 день"),
        ("ru", 24, "24 дня"),
        ("ky", 3, "3 күн"),
        ("ky", 21, "21 күн"),
        ("kk", 5, "5 күн"),
    ],
)
def test_a_wait_in_days(tr: Translator, lang: str, days: int, expected: str) -> None:
    wait = timedelta(days=days, hours=3)
    assert format_duration(tr, lang, wait) == expected  # statistics
    rt = cast(Any, SimpleNamespace(tr=tr))
    assert notices.render(rt, lang, waiting(wait)) == expected  # /queue lines, cards


def test_plural_forms_follow_the_headers(tr: Translator) -> None:
    one = [tr.plural("ru", "{days} day", "{days} days", n, days=n) for n in (1, 101, 111)]
    assert one == ["1 день", "101 день", "111 дней"]
