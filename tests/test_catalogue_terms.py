"""One word for "supervisor" and one for "account" in each language, in every catalogue entry,
and no Kazakh question particle at the start of a line."""

from __future__ import annotations

import re

import pytest

from bot.domain import Language
from tools.i18n_extract import catalogue

SUPERVISOR = {"ru": "супервизор", "ky": "супервизор", "kk": "супервизор"}
ACCOUNT = {"ru": "аккаунт", "ky": "аккаунт", "kk": "аккаунт"}
# Other words that were used for the same things, and must not come back.
FORBIDDEN = {
    "ru": ("куратор", "учётн", "учетн", "руководител"),
    "ky": ("куратор", "эсеп жазуу"),
    "kk": ("куратор", "тіркелгі", "есептік жазба"),
}
PARTICLE_AT_LINE_START = re.compile(r"\n(ма|ме|ба|бе|па|пе)\b", re.IGNORECASE)


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
def test_one_word_for_supervisor_and_account(lang: str) -> None:
    entries = catalogue(lang)
    for msgid, text in entries.items():
        lowered = text.lower()
        if "supervisor" in msgid.lower():
            assert SUPERVISOR[lang] in lowered, (lang, msgid)
        if "account" in msgid.lower():
            assert ACCOUNT[lang] in lowered, (lang, msgid)
        for word in FORBIDDEN[lang]:
            assert word not in lowered, (lang, word, msgid)


def test_english_source_uses_the_same_two_words() -> None:
    for msgid in catalogue("ru"):
        lowered = msgid.lower()
        assert "curator" not in lowered and "active member" not in lowered, msgid


def test_no_kazakh_particle_starts_a_line() -> None:
    for msgid, text in catalogue("kk").items():
        assert not PARTICLE_AT_LINE_START.search(text), msgid
