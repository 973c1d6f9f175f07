"""Who is writing: the filters every router uses, defined once.

`member` (an active account) or `inactive_member` (a switched-off one) are put in the
handler data by bot.middlewares.IdentityMiddleware; anyone else is a student. aiogram
passes a filter only the data it names.
"""

from __future__ import annotations

from aiogram import F
from aiogram.enums import ChatType

from bot.db.models import Member
from bot.domain import Role

private_chat = F.chat.type == ChatType.PRIVATE


def is_student(
    _event: object, member: Member | None = None, inactive_member: Member | None = None
) -> bool:
    """Members (psychologists, supervisors, staff) never fall into the student's flow."""
    return member is None and inactive_member is None


def is_member(_event: object, member: Member | None = None) -> bool:
    return member is not None


def is_inactive(
    _event: object, member: Member | None = None, inactive_member: Member | None = None
) -> bool:
    return member is None and inactive_member is not None


def is_supervisor(_event: object, member: Member | None = None) -> bool:
    return member is not None and member.role == Role.SUPERVISOR


def is_psychologist(_event: object, member: Member | None = None) -> bool:
    return member is not None and member.role == Role.PSYCHOLOGIST


def is_staff(_event: object, member: Member | None = None) -> bool:
    """School staff bound to a school (their flows are all about its posters)."""
    return member is not None and member.role == Role.STAFF and member.school_id is not None


def may_have_workload(_event: object, member: Member | None = None) -> bool:
    """Psychologists, and supervisors (who may hold cases too): /mystats."""
    return member is not None and member.role in (Role.PSYCHOLOGIST, Role.SUPERVISOR)
