"""Every inline button's data, one aiogram `CallbackData` class per button kind.

Services build buttons with these (`TakeCase(code=case.code).pack()`), handlers receive
them (`@router.callback_query(TakeCase.filter())`, `callback_data: TakeCase`). Each class
keeps the prefix and field order of the hand-built strings it replaces, so a button sent
before the switch still works: `TakeCase(code="7KQ2M9XD").pack() == "take:7KQ2M9XD"`.
Data that does not unpack (forged, or from an older version) matches no filter and ends
at a router's "button no longer active" answer.

This is the one module under bot/services' reach that imports aiogram: the classes are
pydantic models of button data, they hold no Telegram logic. Some kinds share a prefix
("inv", "pst") and differ by a constant first field and their number of fields, so one
string never unpacks into two classes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import Field, NonNegativeInt

from bot.domain import Language, Outcome
from bot.services.reporting.periods import PeriodKind

CaseCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{8}$")]  # as stored, without # and -
RowId = NonNegativeInt  # a database id, as the digits the old strings allowed

# --- students ---------------------------------------------------------------------------


class StudentLanguage(CallbackData, prefix="lang"):
    """A student's language choice: "lang:ky"."""

    language: Language


class ChooseRegion(CallbackData, prefix="region"):
    """A student's region, or "skip": "region:12", "region:skip"."""

    region: RowId | Literal["skip"]


class ChooseDistrict(CallbackData, prefix="district"):
    """A student's district, or "skip": "district:40", "district:skip"."""

    district: RowId | Literal["skip"]


class ForgetChoice(CallbackData, prefix="forget"):
    """The answer to /forget's question: "forget:yes", "forget:no"."""

    answer: Literal["yes", "no"]


class SafetyAnswer(CallbackData, prefix="safe"):
    """The answer to "are you in danger right now?" (casework.safety.ask_if_unsure):
    "safe:danger:7KQ2M9XD", "safe:ok:7KQ2M9XD"."""

    answer: Literal["danger", "ok"]
    code: str  # the case asked about


# --- every member -----------------------------------------------------------------------


class MemberLanguage(CallbackData, prefix="mlang"):
    """A member's language choice: "mlang:ru"."""

    language: Language


# --- psychologists ----------------------------------------------------------------------


class TakeCase(CallbackData, prefix="take"):
    """Take a case from its card or /queue: "take:7KQ2M9XD". The code is checked by
    queue.claim, which also accepts the displayed form."""

    code: str


class TransferCase(CallbackData, prefix="tr"):
    """Hand a case to another psychologist (member id) or back to the pool:
    "tr:7KQ2M9XD:15", "tr:7KQ2M9XD:pool"."""

    code: CaseCode
    to: RowId | Literal["pool"]


class HandOver(CallbackData, prefix="handover"):
    """Not a button: the hand-over waiting for its note, kept in `Member.step` while the bot
    waits for the member's next message: "handover:7KQ2M9XD:15", "handover:7KQ2M9XD:pool"."""

    code: CaseCode
    to: RowId | Literal["pool"]


class SkipNote(CallbackData, prefix="hskip"):
    """Hand a case over without a note: "hskip:7KQ2M9XD:15", "hskip:7KQ2M9XD:pool"."""

    code: CaseCode
    to: RowId | Literal["pool"]


class OpenCase(CallbackData, prefix="open"):
    """Open a case one holds (its /case view), from a /mine line: "open:7KQ2M9XD"."""

    code: CaseCode


class TemplatesFor(CallbackData, prefix="tfor"):
    """The saved replies to send in a case one holds, from a /mine line: "tfor:7KQ2M9XD"."""

    code: CaseCode


class UseTemplate(CallbackData, prefix="tuse"):
    """Send saved reply №id to the student of a case one holds: "tuse:7KQ2M9XD:12"."""

    code: CaseCode
    id: RowId


class DeleteTemplate(CallbackData, prefix="tdel"):
    """Delete one's own saved reply №id: "tdel:12"."""

    id: RowId


class TemplateDraft(CallbackData, prefix="tpladd"):
    """Not a button: `/templates add` waiting for the text, kept in `Member.step`:
    "tpladd:ky"."""

    language: Language


class CloseCase(CallbackData, prefix="close"):
    """Close a case with an outcome: "close:7KQ2M9XD:resolved"."""

    code: CaseCode
    outcome: Outcome


# --- supervisors ------------------------------------------------------------------------


class StatsPeriod(CallbackData, prefix="st"):
    """/stats' period: its kind and how many periods back: "st:month:1"."""

    kind: PeriodKind
    back: NonNegativeInt


class InviteRole(CallbackData, prefix="inv"):
    """/invite's first question, whom to invite: "inv:p" (psychologist), "inv:s" (staff)."""

    role: Literal["p", "s"]


class InvitePsychologist(CallbackData, prefix="inv"):
    """A psychologist's invite for a whole region or a district: "inv:p:r:3", "inv:p:d:40"."""

    role: Literal["p"] = "p"
    level: Literal["r", "d"]
    place: RowId


class InviteStaff(CallbackData, prefix="inv"):
    """A school staff invite: "inv:s:s:812"."""

    role: Literal["s"] = "s"
    level: Literal["s"] = "s"
    school: RowId


class InviteSchools(CallbackData, prefix="inv"):
    """A page of a district's schools for a staff invite: "inv:s:d:40:0"."""

    role: Literal["s"] = "s"
    level: Literal["d"] = "d"
    district: RowId
    page: NonNegativeInt


class InviteConfirm(CallbackData, prefix="invok"):
    """A second supervisor confirms a psychologist invite request: "invok:41"."""

    invite: RowId


class InviteRevoke(CallbackData, prefix="invrm"):
    """A supervisor revokes a pending invite from /invites: "invrm:41"."""

    invite: RowId


# --- school staff -----------------------------------------------------------------------


class PosterLanguages(CallbackData, prefix="pst"):
    """/posters' languages, one or two: "pst:l:ky,ru"."""

    stage: Literal["l"] = "l"
    languages: str  # checked by posters.parse_languages


class PosterPaper(CallbackData, prefix="pst"):
    """/posters' paper size for the chosen languages: "pst:p:ky,ru:a4"."""

    stage: Literal["p"] = "p"
    languages: str  # checked by posters.parse_languages
    paper: str  # checked by posters.parse_paper


class PosterOrder(CallbackData, prefix="posters"):
    """Not a button: the open poster order kept in `Member.step` while the bot waits for
    the list of classrooms, so it survives a restart: "posters:ky,ru:a4"."""

    languages: str
    paper: str
