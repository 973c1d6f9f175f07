"""Checking a photo of a poster on the wall: does its code still lead to the line, and where.

Staff send a photo; the answer is one of: it works and leads to classroom Y of their school
(and whether the poster was retired), it is another school's poster (and nothing more of
it), it is not ours (another site, another Telegram account, or our bot with a damaged or
made-up token), or it cannot be read and why.

A check shows no scan count and is limited per member (CHECKS_PER_HOUR): a photo resent
after each scan would otherwise time the scans of one classroom, and with the times of
cases link a case to a class. Weekly counts of finished weeks are in /scans.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Poster, School
from bot.services.posters.poster_tokens import poster_code, read_poster_token
from bot.services.runtime import Runtime
from qr_posters import PhotoProblem, read_poster_photo

_TELEGRAM_HOSTS = {"t.me", "www.t.me", "telegram.me", "www.telegram.me"}


class Verdict(StrEnum):
    WORKS = "works"
    RETIRED = "retired"  # still works: a retired poster keeps routing
    OTHER_SCHOOL = "other_school"  # ours, but a poster of a school not the member's
    BAD_TOKEN = "bad_token"  # noqa: S105 - our bot, but the token is damaged or made up
    OTHER_BOT = "other_bot"  # a Telegram link to some other account
    OTHER_SITE = "other_site"  # a link elsewhere, or no link at all
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class CodeCheck:
    verdict: Verdict
    school_name: str = ""
    school_id: int | None = None
    classroom: str = ""
    code: str = ""
    retired_at: datetime | None = None
    where: str = ""  # for codes that are not ours: the host or @account they open


@dataclass(frozen=True, slots=True)
class PhotoCheck:
    codes: tuple[CodeCheck, ...]
    problem: PhotoProblem | None = None  # why nothing could be read


def telegram_target(text: str) -> tuple[str, str | None] | None:
    """(account, start parameter) of a Telegram link, or None when it is not one."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    query = parse_qs(parts.query)
    starts = query.get("start")
    start = starts[0] if starts else None
    if parts.scheme in ("http", "https") and parts.netloc.lower() in _TELEGRAM_HOSTS:
        account = parts.path.strip("/").split("/")[0]
        return (account, start) if account else None
    if parts.scheme == "tg" and parts.netloc == "resolve":
        account = (query.get("domain") or [""])[0]
        return (account, start) if account else None
    return None


CHECKS_PER_HOUR = 10


class CheckLimit:
    """At most CHECKS_PER_HOUR photo checks per member in any hour, kept in memory (a
    restart forgets it, which only gives an honest member their checks back)."""

    def __init__(self, per_hour: int = CHECKS_PER_HOUR) -> None:
        self.per_hour = per_hour
        self._recent: dict[bytes, deque[datetime]] = {}

    def allow(self, member_pseudonym: bytes, now: datetime) -> bool:
        recent = self._recent.setdefault(member_pseudonym, deque())
        while recent and recent[0] <= now - timedelta(hours=1):
            recent.popleft()
        if len(recent) >= self.per_hour:
            return False
        recent.append(now)
        return True


async def check_code(
    session: AsyncSession, rt: Runtime, text: str, *, school_id: int | None
) -> CodeCheck:
    """Where one decoded code leads, told only for a poster of `school_id` (the member's
    own school)."""
    target = telegram_target(text)
    if target is None:
        try:
            host = urlsplit(text.strip()).netloc
        except ValueError:
            host = ""
        return CodeCheck(Verdict.OTHER_SITE, where=host[:80])
    account, start = target
    if account.lower() != rt.bot_username.lower():
        return CodeCheck(Verdict.OTHER_BOT, where="@" + account[:40])
    poster_id = read_poster_token(rt.vault.pseudonyms.poster, start or "")
    poster = await session.get(Poster, poster_id) if poster_id is not None else None
    school = await session.get(School, poster.school_id) if poster is not None else None
    if poster is None or school is None:
        return CodeCheck(Verdict.BAD_TOKEN, where="@" + account)
    if school.id != school_id:
        return CodeCheck(Verdict.OTHER_SCHOOL)
    return CodeCheck(
        Verdict.RETIRED if poster.retired_at is not None else Verdict.WORKS,
        school_name=school.name,
        school_id=school.id,
        classroom=poster.classroom,
        code=poster_code(poster.id),
        retired_at=poster.retired_at,
    )


async def check_photo(
    session: AsyncSession, rt: Runtime, image: bytes, *, school_id: int | None
) -> PhotoCheck:
    """Read every QR code in the photo (off the event loop) and say where each leads.

    Checking never counts as a scan: it is staff looking, not a student reaching out."""
    reading = await asyncio.to_thread(read_poster_photo, image)
    if not reading.texts:
        return PhotoCheck((), reading.problem or PhotoProblem.NO_CODE)
    return PhotoCheck(
        tuple([await check_code(session, rt, text, school_id=school_id) for text in reading.texts])
    )
