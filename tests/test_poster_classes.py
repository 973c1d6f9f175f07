"""Class lists as staff type them, and the absurd ones they must not get away with."""

from __future__ import annotations

import pytest

from qr_posters.classes import MAX_CLASSES, ClassListError, ClassListProblem, parse_class_list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5А,5Б,6А", ("5А", "5Б", "6А")),
        ("5А, 5Б; 6А\n7В", ("5А", "5Б", "6А", "7В")),
        ("5А 5Б 6А", ("5А", "5Б", "6А")),
        ('5 а, 5-б, 5«В», 5 "Г"', ("5А", "5Б", "5В", "5Г")),
        ("5-7 А-В", ("5А", "5Б", "5В", "6А", "6Б", "6В", "7А", "7Б", "7В")),
        ("10 А-Д", ("10А", "10Б", "10В", "10Г", "10Д")),
        ("1-4", ("1", "2", "3", "4")),
        ("5-6А", ("5А", "6А")),
        ("5A-C", ("5A", "5B", "5C")),  # Latin letters stay Latin
        ("5 А-Б, 6 Ә-Б", ("5А", "5Б", "6Ә", "6Б")),  # Kazakh ends: Kazakh alphabet
        ("7 А-Б", ("7А", "7Б")),  # Russian ends: no Ә in between
        (
            "11 Ү, 9 Ң, 8Ө, 10 Ұ, 6 І, 5 Қ, 4 Ғ, 3 Һ",
            ("11Ү", "9Ң", "8Ө", "10Ұ", "6І", "5Қ", "4Ғ", "3Һ"),
        ),
        ("8 Ө-Ү", ("8Ө", "8П", "8Р", "8С", "8Т", "8У", "8Ұ", "8Ү")),
        ("5 И-К", ("5И", "5К")),  # Й is never a class letter inside a range
        ("5 Й", ("5Й",)),  # but can be named
        ("0А, 0Б", ("0А", "0Б")),  # pre-school classes
        ("10ИТ, 11-физмат, Подг.", ("10ИТ", "11-физмат", "Подг.")),
        ("5А, 5А, 5а", ("5А",)),
        ("5–11 А–В", tuple(f"{g}{c}" for g in range(5, 12) for c in "АБВ")),
    ],
)
def test_parses(text: str, expected: tuple[str, ...]) -> None:
    assert parse_class_list(text) == expected


def test_big_school_range() -> None:
    assert len(parse_class_list("1-11 А-Г")) == 44


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", ClassListProblem.EMPTY),
        ("  \n ;, ", ClassListProblem.EMPTY),
        (",".join(f"{i % 11 + 1}А{i}" for i in range(1000)), ClassListProblem.TOO_MANY),
        (",".join(f"Класс{i}" for i in range(201)), ClassListProblem.TOO_MANY),
        ("1-12 А-Я", ClassListProblem.TOO_MANY),
        ("x" * 200, ClassListProblem.NAME_TOO_LONG),
        ("5А, " + "Б" * 21, ClassListProblem.NAME_TOO_LONG),
        ("5А😀", ClassListProblem.BAD_CHARACTER),
        ("5А, 😀", ClassListProblem.BAD_CHARACTER),
        ("5А\x00", ClassListProblem.BAD_CHARACTER),
        ("5\u200bА", ClassListProblem.BAD_CHARACTER),
        ("<script>", ClassListProblem.BAD_CHARACTER),
        ("--", ClassListProblem.BAD_CHARACTER),
        ("11-5 А", ClassListProblem.BAD_RANGE),
        ("5 В-А", ClassListProblem.BAD_RANGE),
        ("5 А-C", ClassListProblem.BAD_RANGE),  # Cyrillic to Latin
        ("13А", ClassListProblem.BAD_RANGE),
        ("5А," * 4000, ClassListProblem.TOO_LONG_INPUT),
    ],
)
def test_refuses(text: str, problem: ClassListProblem) -> None:
    with pytest.raises(ClassListError) as caught:
        parse_class_list(text)
    assert caught.value.problem is problem


def test_exactly_the_limit_is_fine() -> None:
    names = parse_class_list(",".join(f"К{i}" for i in range(MAX_CLASSES)))
    assert len(names) == MAX_CLASSES


def test_error_shows_the_fragment() -> None:
    with pytest.raises(ClassListError) as caught:
        parse_class_list("5А, 6Б, 7В🙂")
    assert caught.value.fragment == "7В🙂"
