"""Class lists as staff type them: "5А, 5Б, 6А", "5-11 А-В", "1-4", one per line, …

Grades with letters are written back as "5А" whatever the spelling ("5 а", "5-А", "5«А»").
Letter ranges follow the alphabet of their ends: Russian when both ends are Russian letters
(А-Д is А Б В Г Д), Kazakh when an end is a Kazakh or Kyrgyz letter (А-Б is А Ә Б), Latin
for Latin letters. Letters never used for classes (Ё Й Ъ Ы Ь) are skipped inside a range.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_CLASSES = 200
MAX_NAME = 20
MAX_INPUT = 10_000
MAX_GRADE = 12

_RUSSIAN = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
_KAZAKH = "АӘБВГҒДЕЁЖЗИЙКҚЛМНҢОӨПРСТУҰҮФХҺЦЧШЩЪЫІЬЭЮЯ"  # holds the Kyrgyz order too
_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NEVER_IN_RANGES = set("ЁЙЪЫЬ")
_LETTERS = _KAZAKH + _LATIN
_LETTER = "[" + _LETTERS + _LETTERS.lower() + "]"
_DASH = r"\s*[-–—]\s*"
_CLASS_RE = re.compile(
    r"(?P<g1>[0-9]{1,2})(?:" + _DASH + r"(?P<g2>[0-9]{1,2}))?"
    r"(?:(?:\s*-?\s*)[«\"']?(?P<l1>" + _LETTER + r")[»\"']?"
    r"(?:" + _DASH + r"[«\"']?(?P<l2>" + _LETTER + r")[»\"']?)?)?"
    r"(?=[\s,;]|$)"
)
_SEPARATORS = re.compile(r"[,;\n\r]+")
# Punctuation that real class names use ("10 ИТ-1", "Подг./0", "(каз)").
_NAME_PUNCTUATION = set("-./()№«»\"'_+#")


class ClassListProblem(StrEnum):
    EMPTY = "empty"
    TOO_MANY = "too_many"
    TOO_LONG_INPUT = "too_long_input"
    NAME_TOO_LONG = "name_too_long"
    BAD_CHARACTER = "bad_character"
    BAD_RANGE = "bad_range"


class ClassListError(ValueError):
    """A class list that cannot be printed; `problem` says why, `fragment` shows where."""

    def __init__(self, problem: ClassListProblem, fragment: str = "") -> None:
        self.problem = problem
        self.fragment = fragment
        super().__init__(f"{problem.value}: {fragment!r}" if fragment else problem.value)


def parse_class_list(text: str) -> tuple[str, ...]:
    """The classroom names in `text`, in order, without duplicates. Raises ClassListError."""
    if len(text) > MAX_INPUT:
        raise ClassListError(ClassListProblem.TOO_LONG_INPUT)
    names: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if name not in seen:
            seen.add(name)
            names.append(name)
            if len(names) > MAX_CLASSES:
                raise ClassListError(ClassListProblem.TOO_MANY, str(len(names)))

    chunks = [c for c in _SEPARATORS.split(text) if c.strip()]
    if len(chunks) > MAX_CLASSES:  # say "too many" before finding a fault in item 731
        raise ClassListError(ClassListProblem.TOO_MANY, str(len(chunks)))
    for chunk in chunks:
        position = 0
        chunk = chunk.strip()
        while position < len(chunk):
            if chunk[position].isspace():
                position += 1
                continue
            match = _CLASS_RE.match(chunk, position)
            if match:
                for name in _expand(match):
                    add(name)
                position = match.end()
                continue
            end = position
            while end < len(chunk) and not chunk[end].isspace():
                end += 1
            add(_check_name(chunk[position:end]))
            position = end
    if not names:
        raise ClassListError(ClassListProblem.EMPTY)
    return tuple(names)


def _expand(match: re.Match[str]) -> list[str]:
    first = int(match["g1"])
    last = int(match["g2"]) if match["g2"] else first
    if first > last or last > MAX_GRADE:
        raise ClassListError(ClassListProblem.BAD_RANGE, match.group(0))
    letters = _letter_range(match["l1"], match["l2"], match.group(0))
    count = (last - first + 1) * max(1, len(letters))
    if count > MAX_CLASSES:
        raise ClassListError(ClassListProblem.TOO_MANY, str(count))
    grades = range(first, last + 1)
    if not letters:
        return [str(g) for g in grades]
    return [f"{g}{letter}" for g in grades for letter in letters]


def _letter_range(start: str | None, end: str | None, fragment: str) -> list[str]:
    if start is None:
        return []
    start = start.upper()
    if end is None:
        return [start]
    end = end.upper()
    if start in _LATIN and end in _LATIN:
        alphabet = _LATIN
    elif start in _RUSSIAN and end in _RUSSIAN:
        alphabet = _RUSSIAN
    elif start in _KAZAKH and end in _KAZAKH:
        alphabet = _KAZAKH
    else:  # a Latin and a Cyrillic end
        raise ClassListError(ClassListProblem.BAD_RANGE, fragment)
    i, j = alphabet.index(start), alphabet.index(end)
    if i > j:
        raise ClassListError(ClassListProblem.BAD_RANGE, fragment)
    inner = alphabet[i : j + 1]
    return [c for c in inner if c in (start, end) or c not in _NEVER_IN_RANGES]


def _check_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    if len(name) > MAX_NAME:
        raise ClassListError(ClassListProblem.NAME_TOO_LONG, name[:MAX_NAME] + "…")
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] in "LN" or category == "Mn" or ch in _NAME_PUNCTUATION:
            continue
        raise ClassListError(ClassListProblem.BAD_CHARACTER, name)
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        raise ClassListError(ClassListProblem.BAD_CHARACTER, name)
    return name
