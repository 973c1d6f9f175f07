"""Poster tokens: short, Telegram-safe, unforgeable, eternal; junk never raises."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.posters.poster_tokens import (
    MAX_ID,
    make_poster_token,
    parse_poster_code,
    poster_code,
    poster_link,
    read_poster_token,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TELEGRAM_START = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.mark.parametrize("poster_id", [1, 2, 255, 256, 65_535, 2**24 - 1, 2**24, 2**40, MAX_ID])
def test_round_trip_and_shape(poster_id: int) -> None:
    token = make_poster_token(KEY, poster_id)
    assert TELEGRAM_START.fullmatch(token)
    assert len(token) <= 24
    assert read_poster_token(KEY, token) == poster_id


def test_short_for_ordinary_ids() -> None:
    assert len(make_poster_token(KEY, 123_456)) == 17


def test_never_expires_and_reprints_agree() -> None:
    # Nothing in a token depends on when it was made: the same poster id always gives the
    # same token, and reading it needs nothing but the key.
    assert make_poster_token(KEY, 42) == make_poster_token(KEY, 42)
    assert make_poster_token(KEY, 42) != make_poster_token(KEY, 43)


def test_other_key_rejects() -> None:
    assert read_poster_token(OTHER_KEY, make_poster_token(KEY, 42)) is None


def test_every_single_character_change_is_rejected() -> None:
    token = make_poster_token(KEY, 987_654)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i in range(len(token)):
        for ch in alphabet:
            if ch != token[i]:
                forged = token[:i] + ch + token[i + 1 :]
                assert read_poster_token(KEY, forged) is None, forged


def test_made_up_id_with_made_up_mac_is_rejected() -> None:
    import base64

    for poster_id in (1, 7, 1000):
        body = poster_id.to_bytes(2, "big") + bytes(9)
        forged = "p" + base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        assert read_poster_token(KEY, forged) is None


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "p",
        "pp",
        "start",
        "p" + "A" * 63,
        "p" + "A" * 64,
        "p" + "A" * 500,
        "pАБВГД",  # Cyrillic
        "p\x00\x01",
        "p====",
        "p+/+/+/+/+/+/+/+/",
        "P" + "abc",
        "инвайт",
        "😀",
        " p" + "A" * 16,
    ],
)
def test_junk_gives_none(junk: str) -> None:
    assert read_poster_token(KEY, junk) is None


def test_truncated_and_extended_tokens_are_rejected() -> None:
    token = make_poster_token(KEY, 31_337)
    for cut in range(1, len(token)):
        assert read_poster_token(KEY, token[:cut]) is None
    assert read_poster_token(KEY, token + "A") is None
    assert read_poster_token(KEY, token + token) is None


def test_non_str_input_gives_none() -> None:
    assert read_poster_token(KEY, None) is None  # type: ignore[arg-type]
    assert read_poster_token(KEY, b"pabc") is None  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert read_poster_token(KEY, text) is None
    assert read_poster_token(KEY, "p" + text) is None


@pytest.mark.parametrize("bad", [0, -1, MAX_ID + 1])
def test_out_of_range_ids_are_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        make_poster_token(KEY, bad)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        make_poster_token(b"short", 1)


def test_link() -> None:
    token = make_poster_token(KEY, 5)
    assert poster_link("TrustLineKgBot", token) == f"https://t.me/TrustLineKgBot?start={token}"


@pytest.mark.parametrize("poster_id", [1, 31, 32, 1024, 123_456, 2**40, MAX_ID])
def test_code_round_trip(poster_id: int) -> None:
    code = poster_code(poster_id)
    assert re.fullmatch(r"P-[0-9A-HJKMNP-TV-Z]{4,13}", code)
    assert parse_poster_code(code) == poster_id


def test_code_spellings() -> None:
    assert poster_code(7 * 32 + 19) == "P-007K"
    for spelling in ("P-007K", "p-007k", "P007K", "007K", " p 007k ", "P-OO7K"):
        assert parse_poster_code(spelling) == 243, spelling
    assert parse_poster_code("P-0I1L") == parse_poster_code("P-0111")


@pytest.mark.parametrize(
    "bad", ["", "P-", "P-0000", "P-00U7", "P-ЖЖЖЖ", "P-😀", "x" * 30, "#7KQ2-M9XD"]
)
def test_bad_codes(bad: str) -> None:
    assert parse_poster_code(bad) is None
