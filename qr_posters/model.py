"""What a poster sheet is made of: plain, already translated values (no I/O, no gettext)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Paper = Literal["a4", "a3"]
PAPERS: tuple[Paper, ...] = ("a4", "a3")


class PosterDataError(ValueError):
    """The data handed to the renderer cannot make a sensible poster."""


@dataclass(frozen=True, slots=True)
class PosterText:
    """The words of one language on a poster, already translated by the caller."""

    headline: str  # short and warm: "You are not alone"
    purpose: tuple[str, str]  # two lines of what the line is for
    scan_hint: str  # "Scan the code with your phone camera, or write to the bot:"
    call_label: str  # next to the 111 number: "Call free, day and night"


@dataclass(frozen=True, slots=True)
class PosterPage:
    """One classroom's poster."""

    classroom: str  # "5А"
    poster_code: str  # the short id staff read off the wall, e.g. "P-00K7"
    link: str  # https://t.me/<bot>?start=<token>


@dataclass(frozen=True, slots=True)
class PosterSheet:
    """A print job: one school, one or two languages, a page per classroom."""

    school_name: str
    bot_username: str  # without "@"
    paper: Paper
    texts: tuple[PosterText, ...]  # one language, or two side by side
    emergency_numbers: tuple[str, ...]  # the first (111) is printed large
    pages: tuple[PosterPage, ...]

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise PosterDataError(f"paper must be one of {PAPERS}, not {self.paper!r}")
        if not 1 <= len(self.texts) <= 2:
            raise PosterDataError("a poster carries one or two languages")
        if not self.emergency_numbers:
            raise PosterDataError("a poster needs at least the 111 number")
        if not self.pages:
            raise PosterDataError("a poster sheet needs at least one page")
        name = self.bot_username
        if not (
            5 <= len(name) <= 32
            and name.replace("_", "").isascii()
            and name.replace("_", "").isalnum()
        ):
            raise PosterDataError(f"not a Telegram bot username: {name!r}")
        for text in self.texts:
            if len(text.purpose) != 2:
                raise PosterDataError("purpose is exactly two lines")
