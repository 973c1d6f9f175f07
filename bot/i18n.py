"""Catalogues: .po in locales/ (source of truth), compiled to .mo at start, never in git."""

from __future__ import annotations

import gettext
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.domain import Language

if TYPE_CHECKING:
    # Imported only where the bot's handlers get their I18n (make_i18n): importing aiogram
    # takes seconds, and the CLI's commands that never speak to Telegram translate with the
    # catalogues alone (load_catalogues, Translator).
    from aiogram.utils.i18n import I18n

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = Language.RU


class Translate(Protocol):
    """What services get: `tr(lang, "English source text", name=value)`."""

    def __call__(self, lang: str, msgid: str, /, **kwargs: Any) -> str: ...

    def plural(self, lang: str, singular: str, plural: str, n: int, /, **kwargs: Any) -> str:
        """`tr.plural(lang, "{n} poster", "{n} posters", n, n=n)`: the form `n` takes in
        `lang` (the catalogue's Plural-Forms: ru has three, ky and kk say it one way)."""
        ...


def compile_catalogues(source: Path = LOCALES_DIR, target: Path | None = None) -> Path:
    """Compile every locales/<lang>/LC_MESSAGES/messages.po into `target` (a temp dir)."""
    target = target or Path(tempfile.mkdtemp(prefix="trustline-locales-"))
    for lang in Language:
        po_path = source / lang.value / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=lang.value, domain=DOMAIN)
        mo_dir = target / lang.value / "LC_MESSAGES"
        mo_dir.mkdir(parents=True, exist_ok=True)
        with (mo_dir / f"{DOMAIN}.mo").open("wb") as fh:
            write_mo(fh, catalog)
    return target


@dataclass(frozen=True)
class Catalogues:
    """The compiled catalogues, loaded once: `locales` maps a language to its gettext
    translations, as aiogram's I18n holds them (make_i18n gives the bot's I18n these very
    objects, so the handlers' `_` and the services' Translator say the same)."""

    path: Path
    locales: Mapping[str, gettext.GNUTranslations]


def load_catalogues(compiled: Path | None = None) -> Catalogues:
    """Every compiled language of `compiled` (compile_catalogues by default), loaded the way
    aiogram's I18n.find_locales loads them."""
    path = compiled or compile_catalogues()
    locales: dict[str, gettext.GNUTranslations] = {}
    for lang_dir in sorted(path.iterdir()):
        mo_path = lang_dir / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if lang_dir.is_dir() and mo_path.exists():
            with mo_path.open("rb") as fh:
                locales[lang_dir.name] = gettext.GNUTranslations(fh)
    return Catalogues(path, locales)


def make_i18n(source: Catalogues | Path | None = None) -> I18n:
    """aiogram's I18n for the handlers' context (`gettext as _`); given Catalogues it shares
    their loaded translations instead of reading the files again."""
    from aiogram.utils.i18n import I18n

    if isinstance(source, Catalogues):
        i18n = I18n(path=source.path, default_locale=DEFAULT_LANGUAGE.value, domain=DOMAIN)
        i18n.locales = dict(source.locales)  # the very translations the Translator uses
        return i18n
    return I18n(
        path=source or compile_catalogues(), default_locale=DEFAULT_LANGUAGE.value, domain=DOMAIN
    )


class HasLocales(Protocol):
    """Catalogues, or aiogram's I18n: languages mapped to their gettext translations."""

    @property
    def locales(self) -> Mapping[str, gettext.GNUTranslations]: ...


class Translator:
    """Translate into any language explicitly (for messages to other people), with the
    lookup of aiogram's I18n.gettext: a language without a catalogue gives the English
    source (singular for n == 1, else plural)."""

    def __init__(self, source: HasLocales) -> None:
        self.locales = source.locales

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, *, lang: str) -> str:
        translations = self.locales.get(normalize_language(lang))
        if translations is None:
            return singular if n == 1 or plural is None else plural
        if plural is None:
            return translations.gettext(singular)
        return translations.ngettext(singular, plural, n)

    def __call__(self, lang: str, msgid: str, /, **kwargs: Any) -> str:
        text = self.gettext(msgid, lang=lang)
        return text.format(**kwargs) if kwargs else text

    def plural(self, lang: str, singular: str, plural: str, n: int, /, **kwargs: Any) -> str:
        text = self.gettext(singular, plural, n, lang=lang)
        return text.format(**kwargs) if kwargs else text


def normalize_language(code: str | None) -> str:
    """Map a Telegram language_code ("kk", "ru-RU", "ky") to ours; unknown → default."""
    if not code:
        return DEFAULT_LANGUAGE.value
    base = code.split("-")[0].lower()
    return base if base in {lang.value for lang in Language} else DEFAULT_LANGUAGE.value


def language_from_telegram(code: str | None) -> str | None:
    """Our language for a Telegram language_code, or None when it is none of ours."""
    if not code:
        return None
    base = code.split("-")[0].lower()
    return base if base in {lang.value for lang in Language} else None
