"""Find the translatable strings in the code and what the catalogues lack.

`python -m tools.i18n_extract` prints, per language, the msgids missing or empty in that
language's messages.po, as ready-to-fill .po entries.
"""

from __future__ import annotations

import sys

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.domain import Language
from bot.i18n import DOMAIN, LOCALES_DIR

ROOT = LOCALES_DIR.parent
SOURCE_DIRS = ("bot", "handlers", "qr_posters", "demo")
# `tr(lang, "text")` takes its msgid second; the others first.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "N_": None,
    "__": None,
    "lazy_gettext": None,
    "tr": (2,),
    "Text": None,  # bot.delivery.notices.Text(msgid, **args)
    "Counted": (1, 2),  # bot.delivery.notices.Counted(singular, plural, count, **args)
    "plural": (2, 3),  # tr.plural(lang, singular, plural, n, **args)
    "ngettext": (1, 2),
}


def extract_msgids() -> dict[str, list[str]]:
    """msgid → places it is used, for every marked string in the source."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        path = ROOT / folder
        if not path.exists():
            continue
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(path),
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=(),
            strip_comment_tags=True,
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append(f"{folder}/{filename}:{lineno}")
    return found


def catalogue(lang: str) -> dict[str, str]:
    po_path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    result: dict[str, str] = {}
    for message in cat:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        value = message.string[0] if isinstance(message.string, tuple) else message.string
        result[msgid] = "" if message.fuzzy else (value or "")
    return result


def missing(lang: str, msgids: dict[str, list[str]]) -> list[str]:
    have = catalogue(lang)
    return [m for m in msgids if not have.get(m, "").strip()]


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    msgids = extract_msgids()
    total = 0
    for lang in Language:
        gaps = missing(lang.value, msgids)
        total += len(gaps)
        print(f"# --- {lang.value}: {len(gaps)} missing ---")
        for msgid in gaps:
            print(f'#: {msgids[msgid][0]}\nmsgid {_po_quote(msgid)}\nmsgstr ""\n')
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
