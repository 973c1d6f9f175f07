"""bot/callbacks.py: every button's data packs to the string the hand-built code made (so
buttons already in chats keep working), and what does not fit a class never unpacks."""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData

from bot import callbacks as cb
from bot.domain import Language, Outcome
from bot.services.reporting.periods import PeriodKind

PACKED = [
    (cb.StudentLanguage(language=Language.KY), "lang:ky"),
    (cb.ChooseRegion(region=12), "region:12"),
    (cb.ChooseRegion(region="skip"), "region:skip"),
    (cb.ChooseDistrict(district=40), "district:40"),
    (cb.ChooseDistrict(district="skip"), "district:skip"),
    (cb.ForgetChoice(answer="yes"), "forget:yes"),
    (cb.SafetyAnswer(answer="danger", code="7KQ2M9XD"), "safe:danger:7KQ2M9XD"),
    (cb.MemberLanguage(language=Language.KK), "mlang:kk"),
    (cb.TakeCase(code="7KQ2M9XD"), "take:7KQ2M9XD"),
    (cb.TransferCase(code="7KQ2M9XD", to=15), "tr:7KQ2M9XD:15"),
    (cb.TransferCase(code="7KQ2M9XD", to="pool"), "tr:7KQ2M9XD:pool"),
    (cb.CloseCase(code="7KQ2M9XD", outcome=Outcome.REFERRED_111), "close:7KQ2M9XD:referred_111"),
    (cb.OpenCase(code="7KQ2M9XD"), "open:7KQ2M9XD"),
    (cb.TemplatesFor(code="7KQ2M9XD"), "tfor:7KQ2M9XD"),
    (cb.UseTemplate(code="7KQ2M9XD", id=12), "tuse:7KQ2M9XD:12"),
    (cb.DeleteTemplate(id=12), "tdel:12"),
    (cb.TemplateDraft(language=Language.KY), "tpladd:ky"),
    (cb.HandOver(code="7KQ2M9XD", to=15), "handover:7KQ2M9XD:15"),
    (cb.SkipNote(code="7KQ2M9XD", to="pool"), "hskip:7KQ2M9XD:pool"),
    (cb.StatsPeriod(kind=PeriodKind.MONTH, back=1), "st:month:1"),
    (cb.InviteRole(role="p"), "inv:p"),
    (cb.InvitePsychologist(level="r", place=3), "inv:p:r:3"),
    (cb.InvitePsychologist(level="d", place=40), "inv:p:d:40"),
    (cb.InviteStaff(school=812), "inv:s:s:812"),
    (cb.InviteSchools(district=40, page=2), "inv:s:d:40:2"),
    (cb.InviteConfirm(invite=41), "invok:41"),
    (cb.InviteRevoke(invite=41), "invrm:41"),
    (cb.PosterLanguages(languages="ky,ru"), "pst:l:ky,ru"),
    (cb.PosterPaper(languages="kk", paper="a3"), "pst:p:kk:a3"),
    (cb.PosterOrder(languages="ky,ru", paper="a4"), "posters:ky,ru:a4"),
]

CLASSES: list[type[CallbackData]] = [
    value
    for value in vars(cb).values()
    if isinstance(value, type) and issubclass(value, CallbackData) and value is not CallbackData
]


def _unpacking(data: str) -> list[type[CallbackData]]:
    found = []
    for cls in CLASSES:
        try:
            cls.unpack(data)
        except (TypeError, ValueError):
            continue
        found.append(cls)
    return found


@pytest.mark.parametrize(("button", "data"), PACKED, ids=[d for _b, d in PACKED])
def test_packs_as_the_old_string_and_back(button: CallbackData, data: str) -> None:
    assert button.pack() == data
    assert _unpacking(data) == [type(button)]  # one class only, even where prefixes match
    assert type(button).unpack(data) == button


def test_every_class_is_covered() -> None:
    assert {type(button) for button, _data in PACKED} == set(CLASSES)


@pytest.mark.parametrize(
    "data",
    [
        "take",  # no code
        "tr:7kq2m9xd:pool",  # a code is upper case
        "tr:7KQ2M9XD:-3",
        "tr:7KQ2M9XD:nobody",
        "close:7KQ2M9XD:fine",  # not an outcome
        "lang:en",
        "mlang:",
        "region:-1",
        "district:all",
        "forget:maybe",
        "safe:scared:7KQ2M9XD",
        "st:decade:0",
        "st:week:-1",
        "inv:x",
        "inv:s:d:5",  # a staff district without its page
        "inv:s:r:5",  # staff are invited to a school only
        "inv:p:s:5",
        "inv:s:d:40:-1",
        "pst:x:ky",
        "pst:l:ky:a4",
        "posters:ky,ru",
        "region:12:extra",
    ],
)
def test_forged_data_unpacks_into_nothing(data: str) -> None:
    assert _unpacking(data) == []
