"""The services' Translator reads the catalogues without aiogram (bot/i18n.py,
load_catalogues), so CLI commands that never speak to Telegram do not import it (issue 16).
It must say exactly what aiogram's I18n, which the handlers use, says: every msgid of every
catalogue, in every language (and in a language we have none for), plurals included."""

from __future__ import annotations

from babel.messages.pofile import read_po

from bot.domain import Language
from bot.i18n import (
    DOMAIN,
    LOCALES_DIR,
    Translator,
    compile_catalogues,
    load_catalogues,
    make_i18n,
)


def test_translator_says_what_aiogram_i18n_says_for_every_msgid() -> None:
    compiled = compile_catalogues()
    aiogram_i18n = make_i18n(compiled)  # loaded by aiogram itself, not shared
    translator = Translator(load_catalogues(compiled))
    checked = 0
    for lang in Language:
        with (LOCALES_DIR / lang.value / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
            catalogue = read_po(fh, locale=lang.value, domain=DOMAIN)
        for message in catalogue:
            if not message.id:
                continue  # the header
            for asked in (*Language, "en", "ru-RU"):
                code = asked.value if isinstance(asked, Language) else asked
                locale = code.split("-")[0] if code.split("-")[0] in set(Language) else "ru"
                if isinstance(message.id, tuple):
                    singular, plural = message.id
                    for n in (0, 1, 2, 3, 5, 11, 21, 22, 25, 101):
                        expected = aiogram_i18n.gettext(singular, plural, n, locale=locale)
                        assert translator.gettext(singular, plural, n, lang=code) == expected
                        checked += 1
                else:
                    expected = aiogram_i18n.gettext(message.id, locale=locale)
                    assert translator.gettext(message.id, lang=code) == expected
                    checked += 1
    assert checked > 1000  # every catalogue was read


def test_a_language_without_a_catalogue_gives_the_english_source() -> None:
    translator = Translator(load_catalogues())
    translator.locales = {}  # as aiogram's I18n with no catalogue for the language
    assert translator("ky", "Start") == "Start"
    assert translator.plural("ru", "{n} poster", "{n} posters", 1, n=1) == "1 poster"
    assert translator.plural("ru", "{n} poster", "{n} posters", 3, n=3) == "3 posters"


def test_the_bots_i18n_shares_the_cores_catalogues() -> None:
    catalogues = load_catalogues()
    i18n = make_i18n(catalogues)
    for lang in Language:
        assert i18n.locales[lang.value] is catalogues.locales[lang.value]
    assert Translator(catalogues)("ky", "Start") != "Start"  # a real translation
