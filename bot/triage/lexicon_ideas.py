"""Rules for ideas rather than phrasings: word families that co-occur.

The phrase rules in ``lexicon`` and ``lexicon_harm`` catch wordings someone thought of. The
rules here describe the *idea* with two or three families of stems that must occur near each
other, in any order, so wordings nobody listed are still found:

- intent (want, decided, going to, soon; Kyrgyz/Kazakh "-гым келет", "-гім келеді") next to
  a way of dying or disappearing (die, hang, jump, pills, poison, vanish, not wake up);
- being a burden, being better off gone, life having no point;
- self-harm verbs (cut, burn, hit, scratch) next to "myself" or a body part;
- threats to kill or stab next to a target or a weapon;
- an adult next to a request for photos, nudity or secrecy (grooming);
- a demand for money next to something that can be leaked (extortion).

Each family is a constant, so adding one word widens every rule that uses it.
"""

from __future__ import annotations

from bot.domain import Category
from bot.triage.patterns import Level, Rule, signal

__all__ = ["IDEAS"]

_S = Category.SUICIDE_SELF_HARM
_V = Category.VIOLENCE
_X = Category.SEXUAL_ABUSE
_E = Category.ONLINE_EXTORTION
_D = Category.SUBSTANCES
_U = Level.URGENT
_HI = Level.HIGH
_HINT = Level.HINT

# --- suicide --------------------------------------------------------------------------------
# Wanting, deciding, planning (Russian), and the Kyrgyz/Kazakh desire and decision words.
INTENT = (
    "хочу|хочется|хотел|охота|тянет|решил|решение|собираюсь|планирую|пора|мечтаю|"
    "попробую|=буду|=лучше|скоро|=готов|=готова|"
    "чечтим|чечим|шештім|шешім|ниеттен|даярмын|дайынмын|жакында|жақында"
)
# Ways of dying or disappearing, in forms that are not idioms of exaggeration: Russian
# infinitives and future forms ("умереть", "сдохну"), never the present "умираю" that
# "умираю хочу есть" uses.
MEANS = (
    "умерет|умират|=умру|сдохн|помере|помират|=помру|исчезн|испари|повешусь|повеситься|вешат|"
    "вздерн|петл|верёвк|веревк|спрыгн|выпрыгн|сброшу|сбросит|броситься|брошусь|кинуться|"
    "кинусь|таблет|снотвор|=яд|=яду|ядом|отрав|травануться|=вены|=вену|лезви|бритв|вскрыт|"
    "вскро|утопи|утоплюсь|"
    "өлгү|өлгі|өлүп|өліп|өлөм|өлем|өлүү|өлу|асыл|асын|уулан|жогол|жоғал|ойгонбо|оянба"
)
# Desire forms of ways of dying (ky -гым/-гүм/-кым, kk -ғым/-гім/-қым/-кім).
DESIRE = (
    "өлгүм|өлгім|өлгүсү|өлгісі|асылгым|асылғым|асынгым|асынғым|секиргим|секіргім|ыргыгым|"
    "уулангым|уланғым|жоголгум|жоғалғым|ичким|ішкім|кеским|кескім|кеткім|кетким|"
    "ойгонбогум|оянбағым|тунчуккум|тұншыққым"
)
_SELF = "себя|себе|өзүмдү|өзімді|өзүмө|өзіме"
_BODY = "руки|руку|ноги|ногу|запяст|кожу|колум|қолым|билег|білег|бутум|аяғым|терим|терім"

SUICIDE_IDEAS: tuple[Rule, ...] = (
    signal("намерение + способ", f"{INTENT} {MEANS}", _S, _U, any_order=True, window=3),
    # Kyrgyz and Kazakh desire is a suffix on the verb (-гым/-гім келет), so "келет" alone
    # (which also means "comes") is never an intent word: the desire form is the stem.
    signal("-гым келет + способ", f"{DESIRE} кел", _S, _U, window=1),
    signal(
        "желание не жить (-гым келбейт)",
        "жаша|тирүү|тірі|өмір жашагым|жүргүм|жүргім|сүргім|калгым|қалғым|жашагысы ~кел",
        _S,
        _U,
        window=1,
    ),
    signal(
        "уснуть навсегда",
        "уснуть|заснуть|уснула|уктап|ұйықтап навсегда|түбөлүккө|мәңгілікке|биротоло",
        _S,
        _U,
        window=1,
    ),
    signal("не проснуться", "=не проснут|просыпа", _S, _U, window=1),
    signal(
        "ойгонбой калсам / оянбай қалсам",
        "~ойгон|~оян калгым|қалғым|калсам|қалсам|кетсем|келет|келеді|жакшы|жақсы",
        _S,
        _U,
        window=1,
    ),
    # better off gone, a burden
    signal("без меня будет лучше", "=без =меня лучше|легче|проще|спокойн", _S, _U, window=4),
    signal("лучше без меня", "лучше|легче|проще|спокойн =без =меня", _S, _U, window=4),
    signal(
        "менсиз жакшы",
        "менсиз|менсіз жакшы|жеңил|жақсы|жеңіл|оңай|тынч|тыныш|бактылуу|бақытты",
        _S,
        _U,
        any_order=True,
        window=4,
    ),
    signal("меня не станет", "меня =не станет", _S, _U, window=1),
    signal("я обуза", "обуза|обузой|обременя|тягость|балласт", _S, _HI, weak=True),
    signal(
        "мешаю всем",
        "мешаю|мешаюсь всем|=им|семье|родител",
        _S,
        _HI,
        weak=True,
        any_order=True,
        window=2,
    ),
    signal(
        "жүк болуп калдым / ауыртпалық",
        "жүк|ауыртпалык|ауыртпалық бол",
        _S,
        _HI,
        weak=True,
        window=1,
    ),
    signal("кедергімін", "кедергимин|кедергімін|ауыртпалыкмын|ауыртпалықпын", _S, _HI, weak=True),
    signal(
        "баарына жүк / бәріне ауыртпалық",
        "баарына|бәріне|үйбүлөгө|бүлөгө|отбасыма|энеме|анама|всем|семье жүк|ауыртпалык|"
        "ауыртпалық|кедерги|кедергі|обуз",
        _S,
        _U,
        any_order=True,
        window=3,
    ),
    # life has no point
    signal(
        "жизнь бессмысленна",
        "жашоо|өмір|жизн|=жить маанисиз|мәнсіз|мағынасыз|бессмысл",
        _S,
        _U,
        any_order=True,
        window=3,
    ),
    signal(
        "в жизни нет смысла",
        "жашоо|өмір|жизн маани|мәні|мағына|маңыз|смысл =нет|жок|жоқ",
        _S,
        _U,
        window=2,
    ),
    signal(
        "смысла нет",
        "смысл|маани|мааниси|мағына|мәні|маңызы =нет|жок|жоқ",
        _S,
        _HINT,
        weak=True,
        any_order=True,
        window=1,
    ),
    signal(
        "всё скоро закончится",
        "скоро|жакында|жақында|сегодня|бүгүн|бүгін|ночью|түнү|түнде законч|кончит|прекрат|"
        "бүтөт|бүтүрөм|бітеді|бітет|бітірем|токтот|тоқтат",
        _S,
        _HINT,
        weak=True,
        any_order=True,
        window=3,
    ),
    signal(
        "решила закончить",
        "решил|решила|решено|чечтим|шештім|шешім законч|кончу|кончит|"
        "бүтөт|бүтүр|бітеді|бітет|бітір|токтот|тоқтат",
        _S,
        _HINT,
        weak=True,
        any_order=True,
        window=5,
    ),
    # goodbye notes, disappearing
    signal(
        "прощальное письмо",
        "прощальн|предсмертн записк|письм|сообщ",
        _S,
        _U,
        any_order=True,
        window=2,
    ),
    signal("меня не будет", "меня =не будет", _S, _HINT, weak=True, window=0),
    signal("мне всё равно / бәрібір", "бәрібір|баарыбир|пофиг|похуй", _S, _HINT, weak=True),
    signal("мне всё равно", "=всё|=все =равно", _S, _HINT, weak=True, window=0),
    signal("я уже не существую (жокмун)", "жокмун|жоқпын|жокпун", _S, _HINT, weak=True),
    signal("не ищите меня", "=не ищите|искать", _S, _HINT, weak=True, window=1),
    signal("мени издебегиле / мені іздемеңдер", "~изде|~ізде", _S, _HINT, weak=True),
    signal(
        "никто больше не увидит",
        "никто|ешкім|=ким увидит|найдёт|найдет|көрбөйт|көрмейді|таппайт|таппайды",
        _S,
        _HINT,
        weak=True,
        window=4,
    ),
    signal(
        "ухожу навсегда",
        "уйду|ухожу|уйти|кетем|кетемін|кетким|кеткім|кетейин навсегда|"
        "түбөлүккө|биротоло|мәңгілікке|дүйнөдөн|дүниеден|жашоодон",
        _S,
        _U,
        any_order=True,
        window=3,
    ),
    signal("выйти в окно", "выйти|выйду|выйди|шагнуть|шагну =в окно|окна", _S, _U, window=1),
    signal(
        "наглоталась таблеток",
        "напилась|напился|наглот|обожрал|объелась таблет|колес|снотвор|дары|дәрі",
        _S,
        _U,
        any_order=True,
        window=2,
    ),
    # self-harm: a harming verb and "myself" or a body part
    signal(
        "причиняю себе боль",
        f"бью|жгу|жгла|прижига|царапа|расцарап|кусаю|режу|резала|порезал {_SELF}|{_BODY}",
        _S,
        _U,
        any_order=True,
        window=2,
        unless=("kitchen",),
    ),
    signal(
        "өзүмдү жарадар кылам",
        f"күйгүз|күйдір|тырма|тырна|тилем|тілем|кесем|кесемін|кестим|кестім {_BODY}|өзүмдү|өзімді",
        _S,
        _U,
        any_order=True,
        window=2,
        unless=("kitchen",),
    ),
)

# --- violence -------------------------------------------------------------------------------
KILL_THREAT = (
    "убью|убьют|убьет|убьёт|убьем|убьём|прибью|прибьют|прибьет|прибьёт|зареж|зарез|прирез|"
    "пореж|пырн|застрел|пристрел|перестрел|прикончу|прикончат|урою|уроем|замочу|грохну|"
    "өлтүрөм|өлтүрөбүз|өлтіремін|өлтіреміз|сайып|^сайам|^саям|^союм|^сойом"
)
_TARGET = "меня|тебя|=нас|кого|всех|мени|сени|бизди|баарын|мені|сені|бізді|бәрін"
_WEAPON = (
    "нож|пистолет|ствол|^травмат|ружь|оружи|топор|бычак|бычагы|пышак|пышақ|мылтык|мылтық|"
    "балта|🔪|🔫"
)

VIOLENCE_IDEAS: tuple[Rule, ...] = (
    signal(
        "угроза убить / зарезать",
        f"{KILL_THREAT} {_TARGET}",
        _V,
        _U,
        any_order=True,
        window=3,
        fiction=True,
    ),
    signal(
        "оружие + угроза",
        f"{_WEAPON} {KILL_THREAT}",
        _V,
        _U,
        any_order=True,
        window=6,
        fiction=True,
    ),
    signal(
        "уруп салабыз (угроза)",
        "уруп|сабап|ұрып|соғып|тепкилеп салабыз|саламыз|салам|саламын|тастаймыз|алабыз",
        _V,
        _HI,
        window=0,
        now=True,
    ),
    signal(
        "соғамыз / сабайбыз (угроза)",
        "соғамыз|соғамын|сабаймыз|сабайбыз|ұрамыз",
        _V,
        _HI,
        now=True,
    ),
)

# --- sexual abuse: grooming -------------------------------------------------------------------
# Strangers: one asking a child for photos is grooming whatever the photo.
_STRANGER = (
    "взросл|мужик|мужчин|незнаком|дядя|дяденька|киши|кісі|бейтаныс|тааныбаган|интернеттеги|"
    "интернеттегі|интернета|жашта|жаста|=лет"
)
# Any adult outside the parents: one asking a child to keep a secret is grooming.
_ADULT = (
    f"{_STRANGER}|отчим|тренер|учител|сосед|агай|ағай|таяке|байке|өгөй|өгей|"
    "машыктыруучу|жаттықтырушы|мугалим|мұғалім|кошуна|көрші"
)
_KEEP_QUIET = "никому|секрет|тайн|айтпа|айтпагын|айтпай|ешкімге|құпия|жашыр"
_PHOTO = "фото|фотк|селфи|сүрөт|сурет|видео"
_NUDE = (
    "одежд|белье|бельё|белья|купальник|голой|голым|раздет|раздев|нюд|интим|кийимчен|"
    "кийимсиз|жылаңач|жалаңаш|киіммен|киімсіз|чечин|шешін"
)

_REQUEST = (
    "просит|просил|попросил|требует|=скинь|=скинуть|отправь|отправить|пришли|прислать|хочет|"
    "жибер|жібер|сурап|сұрап|сурады|сұрады|түсіп|тартып|сфоткай"
)

SEXUAL_IDEAS: tuple[Rule, ...] = (
    signal("взрослый просит фото", f"{_STRANGER} {_PHOTO}", _X, _U, any_order=True, window=5),
    signal(
        "взрослый + «никому не говори»",
        f"{_ADULT} {_KEEP_QUIET}",
        _X,
        _U,
        any_order=True,
        window=12,
    ),
    signal(
        "взрослый + «не говори родителям»",
        f"{_ADULT} =не говори|говорить|рассказ",
        _X,
        _U,
        window=10,
    ),
    signal(
        "просит фото без одежды",
        f"{_NUDE} {_REQUEST}",
        _X,
        _U,
        any_order=True,
        window=4,
        unless=("chat",),
    ),
    signal(
        "трогает интимные места",
        "жаман|уят|интим|=там|между трогает|трогал|=трогать|лапа|щупа|тийет|тийди|тийип|"
        "тийгиз|тиіс|тиеді|"
        "ұстай|кармай",
        _X,
        _U,
        any_order=True,
        window=3,
    ),
    signal(
        "ночью в комнате (ұстайды / кучактайт)",
        "ночью|түнү|түнкүсүн|түнде|бөлмөм|бөлмеме|бөлмеге|комнат ұстай|кармай|кучакта|"
        "құшақта|тийет|тиеді",
        _X,
        _U,
        any_order=True,
        window=5,
    ),
)

# --- extortion and substances -------------------------------------------------------------------
_PAY = "деньг|денег|переведе|переведи|заплат|акча|ақша|тенге|=сом|тысяч|штук"
_LEAK = (
    "фото|фотк|видео|переписк|скрин|сүрөт|сурет|хаттар|увидят|узнают|выложу|солью|"
    "таратам|таратамын|көрөт|көреді"
)

OTHER_IDEAS: tuple[Rule, ...] = (
    signal("деньги или слив", f"{_PAY} {_LEAK}", _E, _HI, any_order=True, window=6),
    signal(
        "наркотики пробовал",
        "=соль|=соли|=меф|марих|=шишки|=гаш пробов|попроб|предлага|предложил|курил|употреб",
        _D,
        _HI,
        any_order=True,
        window=3,
    ),
    signal(
        "наша тарттым",
        "=наша|нашаны|баңги|есірткі тарт|сунуш|берді|берди|чек|көрдүк",
        _D,
        _HI,
        any_order=True,
        window=3,
    ),
    signal(
        "нюхают газ / клей",
        "газ|клей|желім|бензин нюха|искеш|искеп|искед|иіске|иіск",
        _D,
        _HI,
        any_order=True,
        window=2,
    ),
    signal(
        "мас болом / пьяный",
        "=мас|=мастан болом|боламын|болуп|болып|болдум|болдым",
        _D,
        _HI,
        window=0,
    ),
)

IDEAS: tuple[Rule, ...] = SUICIDE_IDEAS + VIOLENCE_IDEAS + SEXUAL_IDEAS + OTHER_IDEAS
