"""Catalogues: .po in locales/ (source of truth), compiled to .mo at start, never in git."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.domain import Language

if TYPE_CHECKING:
    # Imported where the catalogues are loaded (make_i18n): importing aiogram takes seconds,
    # and the CLI's commands that never speak to Telegram import this module's protocol only.
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


def make_i18n(compiled: Path | None = None) -> I18n:
    from aiogram.utils.i18n import I18n

    return I18n(
        path=compiled or compile_catalogues(), default_locale=DEFAULT_LANGUAGE.value, domain=DOMAIN
    )


class Translator:
    """Translate into any language explicitly (for messages to other people)."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def __call__(self, lang: str, msgid: str, /, **kwargs: Any) -> str:
        text = self.i18n.gettext(msgid, locale=normalize_language(lang))
        return text.format(**kwargs) if kwargs else text

    def plural(self, lang: str, singular: str, plural: str, n: int, /, **kwargs: Any) -> str:
        text = self.i18n.gettext(singular, plural, n, locale=normalize_language(lang))
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
