"""Turn a student's message into a list of "skeleton" tokens where spellings meet.

Students write the same word many ways: Kyrgyz and Kazakh letters or their Russian-keyboard
stand-ins (ө→о, ү→у, ң→н, қ→к, ғ→г, ұ→у, і→и, ә→а, һ→х), Kazakh Latin (2018 acute or 2021
diaeresis letters, or plain ASCII), informal Latin Russian ("ya hochu umeret"), stretched
letters ("помогитеее"), zero-width characters or Latin look-alikes inside Cyrillic words.
Rather than list every spelling in the lexicon, both the message and every lexicon stem go
through the same function, so they meet in one deliberately lossy form:

1. NFKD (compatibility forms such as full-width letters fold; diacritics split off), then
   combining marks, format characters (zero-width space/joiners, soft hyphen, BOM) and
   apostrophes are deleted. Deleting marks also turns й→и, ё→е, ö→o, ä→a, ü→u, ğ→g.
2. Inside words that mix Cyrillic with Latin or digits, look-alikes become Cyrillic
   (a→а, c→с, e→е, o→о, p→р, x→х, y→у, 0→о, 3→з, 6→б ...); so does a one-letter Latin
   word in a Cyrillic message ("c coбoй"). Case matters here (B→В, H→Н), so this runs
   before case folding.
3. Case folding, then the remaining Latin runs are transliterated to Cyrillic
   (sh→ш, ch→ч, zh→ж, kh→х, q→к, j before a vowel→ж, y→и ...).
4. A skeleton map merges letters that different spellings confuse: Kazakh/Kyrgyz letters
   become their stand-ins, ы/й/і→и, э→е, щ→ш, ц→тс (so "ts" transliteration meets),
   я→иа, ю→иу (so "ya"/"yu" meet), ъ and ь vanish. Russian "был/была/было/были" (was)
   become "бл" first, so the fold does not make them "бил/била/било/били" (beat).
5. Runs of a repeated letter collapse to one letter ("помогитеее" and "класс" alike; the
   lexicon is collapsed the same way, so doubled letters never decide a match).

Tokens are runs of letters; a few emoji that carry meaning (pill, knife, blood...) and a
quotation mark (used to notice quoted song lyrics) are tokens of their own. Everything else
is a separator. The whole pass is a handful of C-level str/regex operations, linear in the
length of the text. Plain Cyrillic text (most messages) skips steps 1 to 3, and Python
callbacks run only for words of a message that mixes Latin and Cyrillic.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import groupby

__all__ = ["QUOTE", "SIGNAL_EMOJI", "skeleton", "tokenize"]

QUOTE = '"'

# Emoji with a meaning for triage, folded to one representative each. Variation selectors
# (U+FE0F) are stripped as marks, so "⚰️" and "⚰" meet.
_EMOJI_ALIASES: dict[str, str] = {
    "💊": "💊",
    "🔪": "🔪",
    "🗡": "🔪",
    "🩸": "🩸",
    "🪢": "🪢",
    "⚰": "⚰",
    "🪦": "⚰",
    "☠": "☠",
    "🔫": "🔫",
    "💉": "💉",
    "😭": "😭",
    "😢": "😭",
    "😿": "😭",
    "💔": "💔",
    "🥀": "💔",
    "🚬": "🚬",
    "😂": "😂",
    "🤣": "😂",
    "😅": "😂",
    "😆": "😂",
    "😁": "😂",
    "🙈": "😂",
    "😩": "😂",
    "🤪": "😂",
    "🍺": "🍺",
    "🍻": "🍺",
    "🍷": "🍺",
    "🥃": "🍺",
    "🍾": "🍺",
}
SIGNAL_EMOJI = frozenset(_EMOJI_ALIASES.values())

_QUOTES = '«»“”„‟"″〝〞＂'
# Invisible characters that are letters or symbols to Unicode (so not caught as Cf/Mn) but
# are used to split words: Hangul fillers and the blank Braille pattern.
_INVISIBLE = "\u115f\u1160\u3164\uffa0\u2800"
_APOSTROPHES = "'’‘`ʼʹ´"


def _char_class(codepoints: list[int]) -> str:
    """A regex character class for ``codepoints``, written as ranges to keep it small."""
    ordered = sorted(set(codepoints))
    parts: list[str] = []
    start = previous = ordered[0]
    for cp in [*ordered[1:], -2]:
        if cp == previous + 1:
            previous = cp
            continue
        last = "-" + re.escape(chr(previous)) if previous > start else ""
        parts.append(re.escape(chr(start)) + last)
        start = previous = cp
    return "[" + "".join(parts) + "]"


def _deletable() -> list[int]:
    found = [ord(ch) for ch in _INVISIBLE + _APOSTROPHES]
    for block in (range(0x10000), range(0xE0000, 0xE01F0)):
        found.extend(cp for cp in block if unicodedata.category(chr(cp)) in ("Mn", "Me", "Cf"))
    return found


# Marks, format characters, invisible fillers and apostrophes go in one regex pass: a
# character class is scanned in C, far faster than str.translate with a large dict.
_DELETE = re.compile(_char_class(_deletable()))
# Characters that become something else: quotation marks, emoji aliases, and the dotless
# ı of Kazakh Latin (NFKD leaves it alone). Emoji need no spaces around them: they are not
# word characters, so the tokeniser already splits them off.
_SPECIAL_PAIRS = tuple(
    (old, new)
    for old, new in [
        *((ch, QUOTE) for ch in _QUOTES),
        *_EMOJI_ALIASES.items(),
        ("ı", "i"),
    ]
    if old != new
)
_SPECIAL = re.compile(_char_class([ord(old) for old, _ in _SPECIAL_PAIRS]))


def _plain_letters() -> str:
    # Cyrillic letters that NFKD leaves alone, plus й and ё, which the skeleton maps itself.
    return "".join(
        chr(cp)
        for cp in range(0x400, 0x500)
        if unicodedata.category(chr(cp)).startswith("L")
        and (unicodedata.normalize("NFKD", chr(cp)) == chr(cp) or chr(cp) in "йёЙЁ")
    )


# Most messages are plain Cyrillic text; they skip NFKD and every Latin, mark and emoji step.
# Digits 0, 3, 4 and 6 are left out because inside a word they can stand for о, з, ч, б.
_PLAIN = re.compile("[" + re.escape(_plain_letters()) + r"\s.,!?:;()\-–—…*/+%12579]*")
# NFKD turns ş and ç into s/c plus a combining cedilla; in Kazakh Latin they are ш and ч.
_CEDILLA = "\u0327"
_CEDILLA_PAIRS = (("s\u0327", "sh"), ("S\u0327", "Sh"), ("c\u0327", "ch"), ("C\u0327", "Ch"))

_HOMOGLYPHS = str.maketrans(
    {
        "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О",
        "P": "Р", "T": "Т", "X": "Х", "Y": "У", "a": "а", "b": "ь", "c": "с", "e": "е",
        "i": "і", "k": "к", "o": "о", "p": "р", "x": "х", "y": "у", "0": "о", "3": "з",
        "4": "ч", "6": "б", "@": "а",
    }
)  # fmt: skip
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9@]")
_NEEDS_HOMOGLYPH_PASS = re.compile(r"[A-Za-z@]|[\u0400-\u04ff][0346]|[0346][\u0400-\u04ff]")
_WORDISH = re.compile(r"[\w@]+")

_LATIN = re.compile(r"[a-z]")
# "j" is ж before a vowel (Kazakh "jok", "jur"), otherwise й (Russian "moj", "soboj").
_J_BEFORE_VOWEL = re.compile(r"j(?=[aeiouy])")
# Applied in order with str.replace (each a fast C pass): digraphs before single letters.
_TRANSLIT = (
    ("shch", "ш"), ("sch", "ш"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"),
    ("gh", "г"), ("ye", "е"), ("yo", "е"), ("a", "а"), ("b", "б"), ("c", "тс"), ("d", "д"),
    ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"), ("i", "и"), ("j", "и"), ("k", "к"),
    ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("q", "к"), ("r", "р"),
    ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "в"), ("x", "х"), ("y", "и"),
    ("z", "з"),
)  # fmt: skip
_SKELETON = (
    ("ә", "а"), ("ө", "о"), ("ү", "у"), ("ң", "н"), ("қ", "к"), ("ғ", "г"), ("ұ", "у"),
    ("і", "и"), ("һ", "х"), ("ы", "и"), ("й", "и"), ("ё", "е"), ("э", "е"), ("щ", "ш"),
    ("ц", "тс"), ("я", "иа"), ("ю", "иу"), ("ъ", ""), ("ь", ""), ("ї", "и"), ("є", "е"),
    ("ў", "у"), ("ґ", "г"),
)  # fmt: skip
# Repeated letters collapse to one, letter by letter: a substring test per letter is far
# cheaper than a back-reference regex over the whole text.
_DOUBLES = tuple((ch * 2, re.compile(ch + "{2,}")) for ch in "абвгдежзиклмнопрстуфхчш")
_TOKEN = re.compile(r"[^\W\d_]+|[" + QUOTE + "".join(sorted(SIGNAL_EMOJI)) + "]")


def _fix_mixed_word(match: re.Match[str]) -> str:
    word = match.group()
    # Only called on text that contains Cyrillic, so a lone Latin letter is a look-alike
    # preposition or conjunction ("c coбoй", "y него") rather than transliteration.
    if (len(word) == 1 and word.isalpha()) or (
        _CYRILLIC.search(word) and _LATIN_OR_DIGIT.search(word)
    ):
        return word.translate(_HOMOGLYPHS)
    return word


def _replace_all(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        if old in text:
            text = text.replace(old, new)
    return text


# Russian "was" (был, была, было, были) would fold into "бил", "била", "били" (beat): "сегодня
# был обычный день в школе" read as a beating at school. Before the fold it becomes "бл".
_WAS = re.compile(r"\bбыл[аои]?\b")


def skeleton(text: str) -> str:
    """The normalised form of ``text``: lowercase Cyrillic skeleton letters and separators."""
    if _PLAIN.fullmatch(text):
        text = text.casefold()
    else:
        text = _unusual(text).casefold()
        if _LATIN.search(text):
            text = _replace_all(_J_BEFORE_VOWEL.sub("ж", text), _TRANSLIT)
    if "был" in text:
        text = _WAS.sub("бъл", text)
    text = _replace_all(text, _SKELETON)
    for double, run in _DOUBLES:
        if double in text:
            text = run.sub(double[0], text)
    return text


def _unusual(text: str) -> str:
    """Steps 1 and 2 of the module docstring, for text that is not plain Cyrillic."""
    text = unicodedata.normalize("NFKD", text)
    if _CEDILLA in text:
        text = _replace_all(text, _CEDILLA_PAIRS)
    if _DELETE.search(text):
        text = _DELETE.sub("", text)
    if _SPECIAL.search(text):
        text = _replace_all(text, _SPECIAL_PAIRS)
    if _NEEDS_HOMOGLYPH_PASS.search(text) and _CYRILLIC.search(text):
        text = _WORDISH.sub(_fix_mixed_word, text)
    return text


def tokenize(text: str) -> list[str]:
    """Skeleton tokens of ``text``: letter runs, signal emoji and quotation marks.

    A token repeated back to back counts once ("🔪🔪🔪", "хочу хочу"), which also keeps
    a message of one emoji repeated 4096 times as cheap as a short one.
    """
    return [token for token, _ in groupby(_TOKEN.findall(skeleton(text)))]
