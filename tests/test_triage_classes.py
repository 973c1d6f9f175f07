"""Triage rule classes, each with Kyrgyz, Kazakh and Russian examples, and the false alarms.

The rules are read with the learned model off (``second_opinion=False``): these tests are
about the lexicon's classes (negation inside the verb, kin terms, pronouns of any of the
three languages, the themes of issue 13), not about what the model adds.
"""

from __future__ import annotations

import pytest

from bot.domain import Category, Priority
from bot.triage import assess
from bot.triage.normalize import tokenize
from bot.triage.patterns import Level as L
from bot.triage.patterns import Matcher, compile_slots, signal

U, H, N = Priority.URGENT, Priority.HIGH, Priority.NORMAL


def rules(text: str) -> tuple[Priority, Category]:
    found = assess(text, second_opinion=False)
    return found.priority, found.category


def check(text: str, priority: Priority, category: Category | None = None) -> None:
    got_priority, got_category = rules(text)
    assert got_priority is priority, (text, assess(text, second_opinion=False))
    if category is not None:
        assert got_category is category, (text, assess(text, second_opinion=False))


# --- negation inside the Kyrgyz and Kazakh verb -------------------------------------------


def test_negative_stem_syntax_covers_every_harmony_variant() -> None:
    (slot,) = compile_slots("~кел")
    assert {"келбе", "келме", "келпе", "келбо", "келмо"} <= set(slot.prefixes)
    matcher = Matcher((signal("t", "жашагым ~кел", Category.SUICIDE_SELF_HARM, L.URGENT),))
    for text in ("жашагым келбейт", "жашагым келмейді", "жашагым келбей калды"):
        assert matcher.find(tokenize(text)), text
    assert not matcher.find(tokenize("жашагым келет"))


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("жашагым келбейт", U),  # ky
        ("тирүү калгым келбейт", U),
        ("өмір сүргім келмейді", U),  # kk
        ("не хочу жить", U),  # ru
        ("өгөй энем тамак бербейт", H),  # ky: not fed, negative verb
        ("үйдө тамак беришпейт", H),
        ("анам тамақ бермейді", H),  # kk
        ("меня дома не кормят", H),  # ru
        ("ойгонбой калсам жакшы болмок", U),  # ky: not wake up
        ("оянбай қалғым келеді", U),  # kk
        ("хочу уснуть и не проснуться", U),  # ru
    ],
)
def test_negation_inside_the_verb(text: str, priority: Priority) -> None:
    check(text, priority)


@pytest.mark.parametrize(
    "text",
    [
        "жашоонун мага кереги жок",  # ky "not needed", both usual forms
        "мага жашоо керек эмес",
        "өмірдің маған керегі жоқ",  # kk
        "өмір маған керек емес",
        "мне жизнь не нужна",  # ru
    ],
)
def test_not_needed_in_all_its_forms(text: str) -> None:
    check(text, U, Category.SUICIDE_SELF_HARM)


@pytest.mark.parametrize(
    "text",
    [
        "жашоодон чарчадым", "жашоодон чарчап кеттим", "жашоодон тажадым",  # ky
        "өмірден шаршадым", "өмір сүруден жалықтым",  # kk
        "я устала от жизни", "устал жить",  # ru
    ],
)  # fmt: skip
def test_tired_of_life_in_its_common_forms(text: str) -> None:
    check(text, U, Category.SUICIDE_SELF_HARM)


@pytest.mark.parametrize("text", ["чарчадым", "чарчап кеттим", "шаршадым", "устала"])
def test_tired_alone_is_distress_not_urgent(text: str) -> None:
    check(text, N, Category.DISTRESS)


# --- kin terms, both languages -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # ky: elder sister, brother-in-law, uncle, grandmother, grandfather, step-parents
        "эжем мени күнүгө сабайт", "жездем мени урат", "байкем мени тепкилейт",
        "таякем мени сабап жүрөт", "агайым мени урду", "чоң апам мени урат",
        "ажекем мени сабайт", "чоң атам мени урат", "өгөй атам мени сабайт",
        "өгөй энем мени урат",
        # kk
        "әпкем мені күнде ұрады", "жездем мені ұрады", "ағам мені ұрып жүреді",
        "көкем мені сабады", "нағашым мені ұрды", "әжем мені ұрады", "өгей әкем мені ұрады",
        "өгей шешем мені сабайды",
        # ru
        "сестра бьёт меня", "дядя бьёт меня", "бабушка бьёт меня", "отчим бьёт меня",
        "мачеха бьёт меня",
    ],
)  # fmt: skip
def test_every_relative_beating_a_child_is_home_abuse(text: str) -> None:
    check(text, H, Category.HOME_ABUSE)


# --- "меня бьют" with the pronoun of any language ----------------------------------------


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("мени бьют", H),  # ky pronoun, ru verb
        ("мені бьют", H),  # kk pronoun, ru verb
        ("меня бьют", H),  # ru
        ("мени щас бьют", U),  # mixed, happening now
        ("мені қазір бьют", U),
        ("меня сейчас бьют", U),
        ("меня азыр уруп жатышат", U),  # ru pronoun, ky verb
        ("мені қазір ұрып жатыр", U),  # kk
        ("мени азыр уруп жатышат", U),  # ky
    ],
)
def test_beating_with_a_pronoun_of_any_language(text: str, priority: Priority) -> None:
    check(text, priority)


# --- the urgent and high themes of issue 13 -----------------------------------------------

THEMES = [
    # wishes to disappear
    ("жок болуп кеткім келет", U, Category.SUICIDE_SELF_HARM),
    ("ғайып болғым келеді", U, Category.SUICIDE_SELF_HARM),
    ("хочу пропасть навсегда", U, Category.SUICIDE_SELF_HARM),
    # "this is my last day"
    ("бүгүн менин акыркы күнүм", U, Category.SUICIDE_SELF_HARM),
    ("бұл менің соңғы күнім", U, Category.SUICIDE_SELF_HARM),
    ("это мой последний день", U, Category.SUICIDE_SELF_HARM),
    # goodbye messages
    ("кош болгула баарыңар", U, Category.SUICIDE_SELF_HARM),
    ("қош болыңдар бәрің", U, Category.SUICIDE_SELF_HARM),
    ("прощайте все", U, Category.SUICIDE_SELF_HARM),
    # self-harm happening now
    ("колумду кесип жатам", U, Category.SUICIDE_SELF_HARM),
    ("қолымды кесіп жатырмын", U, Category.SUICIDE_SELF_HARM),
    ("режу себе руки прямо сейчас", U, Category.SUICIDE_SELF_HARM),
    # a step-parent or another man in the room at night
    ("өгөй атам түнкүсүн бөлмөмө кирет", U, Category.SEXUAL_ABUSE),
    ("өгей әкем түнде бөлмеме кіреді", U, Category.SEXUAL_ABUSE),
    ("отчим ночью заходит ко мне в комнату", U, Category.SEXUAL_ABUSE),
    # sexual images sent to a child
    ("бир киши мага жылаңач сүрөт жиберди", U, Category.SEXUAL_ABUSE),
    ("бір кісі маған жалаңаш сурет жіберді", U, Category.SEXUAL_ABUSE),
    ("мужик присылает мне голые фото", U, Category.SEXUAL_ABUSE),
    # intimate photos leaked to a class chat: high
    ("менин сүрөттөрүмдү класстын чатына салышты", H, Category.ONLINE_EXTORTION),
    ("интим суреттерімді сынып чатына тастады", H, Category.ONLINE_EXTORTION),
    ("мои интимные фото слили в чат класса", H, Category.ONLINE_EXTORTION),
    # kidnapping
    ("мени зордоп алып кетишти", U, Category.VIOLENCE),
    ("мені күштеп алып кетті", U, Category.VIOLENCE),
    ("меня увезли силой", U, Category.VIOLENCE),
    # forced marriage, bride kidnapping
    ("мени ала качып кетишти", U, Category.VIOLENCE),
    ("мени күйөөгө бергени жатышат", U, Category.VIOLENCE),
    ("мені күйеуге бермекші", U, Category.VIOLENCE),
    ("мені алып қашты", U, Category.VIOLENCE),
    ("меня хотят выдать замуж насильно", U, Category.VIOLENCE),
    # extortion and the meter
    ("акча бербесең урабыз дешет", H, None),
    ("ақша бермесең ұрамыз дейді", H, None),
    ("меня поставили на счётчик", H, Category.ONLINE_EXTORTION),
    # made to steal
    ("мени уурда деп жатышат", H, Category.VIOLENCE),
    ("мені ұрлауға мәжбүрлейді", H, Category.VIOLENCE),
    ("меня заставляют воровать", H, Category.VIOLENCE),
    # threats; threats to kill are urgent
    ("мени коркутуп жатышат", H, Category.VIOLENCE),
    ("мені қорқытып жүр", H, Category.VIOLENCE),
    ("он угрожает мне", H, Category.VIOLENCE),
    ("сени өлтүрөм деди", U, Category.VIOLENCE),
    ("сені өлтіремін деді", U, Category.VIOLENCE),
    ("он сказал что убьет меня", U, Category.VIOLENCE),
    # stalking
    ("артымдан басып жүрөт", H, Category.VIOLENCE),
    ("артымнан аңдып жүреді", H, Category.VIOLENCE),
    ("он следит за мной", H, Category.VIOLENCE),
]


@pytest.mark.parametrize(("text", "priority", "category"), THEMES)
def test_issue_13_themes(text: str, priority: Priority, category: Category | None) -> None:
    check(text, priority, category)


# --- false alarms that must stay false --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "апам мени шапалақтады",  # kk/ky "slapped": not "щупал" (groped) one letter away
        "әкем мені шапалақтап жіберді",
        "шапалақ",
    ],
)
def test_slapped_is_never_read_as_groped(text: str) -> None:
    assert rules(text)[1] is not Category.SEXUAL_ABUSE, assess(text, second_opinion=False)
    assert assess(text).priority is not Priority.URGENT, assess(text)


@pytest.mark.parametrize(
    "text",
    [
        "классташтарым мага тийишет",  # ky: classmates pick on me
        "сыныптастарым маған тиіседі",  # kk
        "одноклассники ко мне цепляются",  # ru
    ],
)
def test_classmates_picking_on_a_child_is_not_sexual_abuse(text: str) -> None:
    assert rules(text)[1] is not Category.SEXUAL_ABUSE, assess(text, second_opinion=False)
    found = assess(text)
    assert found.priority is not Priority.URGENT, found


@pytest.mark.parametrize(
    "text",
    [
        "дене тарбия мугалими чечингиле деди",  # ky: the PE teacher said to change
        "физкультура мұғалімі киім ауыстырыңдар деді, шешініңдер деді",  # kk
        "физрук сказал переодеться",  # ru
    ],
)
def test_the_pe_teacher_saying_to_change_is_not_abuse(text: str) -> None:
    assert rules(text)[1] is not Category.SEXUAL_ABUSE, assess(text, second_opinion=False)
    found = assess(text)
    assert found.priority is not Priority.URGENT, found


@pytest.mark.parametrize(
    "text",
    [
        "агай мага тийишет, жакпайт",  # an adult man picking on a child is harassment
        "көрші ағай маған тиіседі",
        "сосед пристаёт ко мне",
    ],
)
def test_an_adult_picking_on_a_child_stays_urgent(text: str) -> None:
    check(text, U, Category.SEXUAL_ABUSE)


def test_sexual_abuse_stems_are_never_fuzzy() -> None:
    # one letter changed in a stem of another category still matches (a typo) ...
    assert rules("самоубиство")[0] is U
    # ... but not in the sexual-abuse category
    assert rules("домогаетса")[1] is Category.SEXUAL_ABUSE  # exact prefix "домога"
    assert rules("дамогается")[1] is not Category.SEXUAL_ABUSE


@pytest.mark.parametrize(
    "text",
    [
        "сегодня последний день каникул",
        "мектептеги акыркы күнүм, эртең көчөбүз",
        "лагердегі соңғы күнім",
    ],
)
def test_last_day_of_holidays_or_school_is_not_urgent(text: str) -> None:
    assert rules(text)[0] is not U


# --- now, soon and past ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("агам мени бөлмөгө камап урду азыр", U),  # ky: hit me just now
        ("ағам мені қазір ұрып жатыр", U),  # kk
        ("меня сейчас бьют", U),  # ru
        ("кечээ мени сабап кетишти, азыр ооруканадан чыктым", H),  # ky: yesterday
        ("кеше мені ұрып кетті, қазір үйдемін", H),  # kk
        ("вчера меня избили, сейчас я в больнице", H),  # ru
        ("сабактан кийин урабыз дешти", U),  # ky: planned for after lessons
        ("сабақтан кейін ұрамыз деді", U),  # kk
        ("после уроков меня побьют", U),  # ru
    ],
)
def test_now_beats_past_only_when_nearer(text: str, priority: Priority) -> None:
    check(text, priority)


@pytest.mark.parametrize(
    "text",
    [
        "досум «сени өлтүрөм» деп тамашалады 😂",  # ky: a joke
        "досым «сені өлтіремін» деп әзілдеді 😂",  # kk
        "мама сказала «прибью», но смеялась",  # ru
        "ала качуу жөнүндө сочинение жазып жатам",  # an essay
        "алып қашу туралы эссе жазып жатырмын",
        "пишу эссе про похищение невест",
        "пияз туурап жатып колумду кесип алдым",  # cooking
        "пиязды турап жатып қолымды кесіп алдым",
        "резала лук и порезалась",
    ],
)
def test_jokes_essays_and_cooking_are_not_urgent(text: str) -> None:
    assert rules(text)[0] is not U, assess(text, second_opinion=False)


def test_not_a_joke_keeps_the_threat() -> None:
    assert rules("«после уроков ты труп», это не шутка")[0] is U
    assert rules("«эртең сени өлтүрөм» деди, бул тамаша эмес")[0] is U
    assert rules("«ертең сені өлтіремін» деді, бұл әзіл емес")[0] is U


# --- more urgent classes, each in ky, kk and ru ------------------------------------------

MORE_URGENT = [
    # an apology with a letter left behind
    "апама кечир деп кат жазып койдум", "анама кешір деп хат жазып қойдым",
    "мама, прости, я оставила записку",
    # "my last message"
    "бул менин акыркы катым", "бұл менің соңғы хатым", "это моё последнее сообщение",
    # giving belongings away
    "буюмдарымды досторума таратып бердим", "заттарымды достарыма таратып бердім",
    "раздала все свои вещи подругам",
    # on a height, looking down
    "көпүрөнүн үстүндө турам, ылдый карап", "көпірдің үстінде тұрмын, төмен қарап",
    "стою на мосту и смотрю вниз",
    # drowning
    "сууга кирип кетсем деп ойлойм", "суға кетіп қалсам деймін", "хочу утопиться в реке",
    # "if I'm gone nobody notices"
    "мен жок болсом эч ким байкабайт", "мен жоқ болсам ешкім байқамайды",
    "если я исчезну, никто не заметит",
    # waiting outside to beat, held, chased, locked in
    "мектептин жанында мени урабыз деп күтүп турушат", "мектептің жанында ұрамыз деп күтіп тұр",
    "они ждут меня у школы, чтобы избить",
    "бир киши мени кармап турат", "бір кісі мені ұстап тұр", "меня держат и не отпускают сейчас",
    "артымдан кууп келе жатышат", "артымнан қуып келе жатыр", "за мной бегут двое",
    "бөлмөгө камап, чыгарбай жатышат", "бөлмеге қамап, шығармай жатыр",
    "заперли в комнате и не выпускают",
    # being married off
    "мени бир кишиге узатабыз дешет", "мені бір кісіге ұзатамыз дейді",
    "меня хотят отдать замуж за взрослого",
    # an adult man: invitations and a closed door, the lap, paying for photos, exposing
    "коңшу байке үйүнө чакырып, эшикти жаап алат", "көрші ағай үйіне шақырып, есікті жауып алады",
    "сосед зовёт к себе и закрывает дверь",
    "агай мени тизесине отургузат", "ағай мені тізесіне отырғызады",
    "тренер сажает меня на колени",
    "бир байке сүрөтүңдү жибер, акча берем дейт", "бір ағай суретіңді жібер, ақша беремін дейді",
    "мужик пишет: скинь фотку, заплачу",
    "күзөтчү уятсыз жерин көрсөтөт", "күзетші ұятсыз жерін көрсетеді",
    "охранник показывает интимные места",
]  # fmt: skip


@pytest.mark.parametrize("text", MORE_URGENT)
def test_more_urgent_classes(text: str) -> None:
    check(text, U)


# --- precision classes (issue 13, second round): homographs across the three languages ----
# Each pair: an everyday message the rules used to alarm on, and the risk the same rule class
# must still find, in Kyrgyz, Kazakh and Russian.

EVERYDAY = [
    # Kyrgyz long vowels fold to one letter: "тээп" (kicking) is not a prefix of "теперь",
    # "өөп" (kissing) not of "опаздываю"/"опять", "кууп" (chasing) not of "куплю"
    "друзья бросили меня и теперь дружат с новенькой",
    "опаздываю в школу, учитель ругает, всегда",
    "агай опять үй тапшырма берди, тепер эмне кылам",
    # the Russian preposition "у" is not the Kyrgyz/Kazakh "уу"/"у" (poison)
    "привет. просто хочу поговорить. как у вас дела",
    "хочу узнать, у кого можно спросить про олимпиаду",
    # "чыгара албайм" (cannot solve) is not "чыга албай жатам" (cannot get out)
    "жардам бер математикадан плиз, эртең контрольная, пропорция чыгара албайм",
    "есепті шығара алмай жатырмын, көмектесші",
    # the child waiting (for the bot) is not someone waiting outside for the child
    "неге бот тез жауап бермейді? мен күтіп тұрмын",
    "мен күтүп турам, качан жооп бересиздер",
    # Kazakh "ұрланып" (stolen) is not "урганы" (hit); Kazakh "отырам" (I sit) is not
    # "отбирают" (take away)
    "менің итім ұрланып кетті, қатты жылап жүрмін",
    "жалғызбын, досым жоқ. үзілісте телефонға қарап отырам",
    # cooking in Kazakh and Kyrgyz: meat, a kitchen knife
    "тамақ пісіріп жатырмын, етті кесіп жатырмын, пышақ өткір емес, кеңес беріңізші",
    "ашкана бычагын кантип курчутса болот, апам сурады",
]  # fmt: skip


@pytest.mark.parametrize("text", EVERYDAY)
def test_homographs_of_risk_words_stay_normal(text: str) -> None:
    check(text, N)


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("апам мени тээп жиберди", H), ("анам мені теуіп жіберді", H),
        ("мама меня пинает", H),
        ("агам мени өөп, эч кимге айтпа деди", U), ("ағам мені сүйіп, ешкімге айтпа деді", U),
        ("уу ичем", U), ("у ішемін", U), ("хочу выпить таблетки и умереть", U),
        ("сыртта күтүп турушат, чыга албай жатам", H),
        ("сыртта күтіп тұр, шыға алмай жатырмын", H),
        ("они ждут у подъезда, выйти не могу", H),
        ("ата-энем кечиргиле, катты жаздыктын алдына койдум", U),
        ("бычак менен колумду кестим", U), ("пышақпен қолымды кестім", U),
        ("я порезала руку лезвием", U),
    ],
)  # fmt: skip
def test_the_narrowed_classes_still_find_the_risk(text: str, priority: Priority) -> None:
    got, _ = rules(text)
    assert got is not N, (text, assess(text, second_opinion=False))
    if priority is U:
        assert got is U, (text, assess(text, second_opinion=False))


def test_a_long_vowel_stem_matches_whole_words_only() -> None:
    (slot,) = compile_slots("тээп|өөп|кууп|жаап")
    assert not slot.prefixes
    assert {"теп", "оп", "куп", "жап"} <= slot.exact


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("кой союп жатышат тойго, карап турдум, кан көп экен ыя", N),
        ("қой сойып жатыр, тойға дайындық", N), ("завтра зарежем барана на курбан айт", N),
        ("сени союп салам", U), ("сені сойып тастаймын", U), ("я тебя зарежу", U),
    ],
)  # fmt: skip
def test_slaughtering_livestock_is_not_a_threat(text: str, priority: Priority) -> None:
    check(text, priority)


# --- locked in: once and still there (URGENT) or as a habit (HIGH) ------------------------


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        # a perfective "locked in and left": the child is held now
        ("атам мени сарайга камап кетти, караңгы", U), ("өгөй энем мени ванага жаап салды", U),
        ("әкем мені қоймаға қамап қойды, суық", U), ("ағам мені бөлмеге жауып тастады", U),
        ("мачеха заперла меня в ванной", U), ("меня закрыли в гараже и ушли", U),
        # the habitual form is home abuse told, not happening this minute
        ("атам мени сарайга камап коёт", H), ("әкем мені бөлмеге қамап қояды", H),
        ("меня запирают дома на выходные", H),
        # a past marker makes it a story told afterwards
        ("кечээ агам мени бөлмөгө камап койду", N), ("кеше ағам мені бөлмеге қамап қойды", N),
        # the child locked herself in: not held by anyone
        ("я закрылась в ванной и плачу", N),
    ],
)  # fmt: skip
def test_locked_in_now_against_locked_in_as_a_habit(text: str, priority: Priority) -> None:
    got, _ = rules(text)
    if priority is N:
        assert got is not U, (text, assess(text, second_opinion=False))
    else:
        check(text, priority, Category.HOME_ABUSE if priority is U else None)


# --- weak signs: one goodbye is one sign, however many rules read it ----------------------


@pytest.mark.parametrize(
    "text",
    ["кош болгула", "қош болыңдар", "kosh bolyndar", "прощайте", "кечиргиле мени баарыңар",
     "бәріне кешіріңдер", "простите меня все"],
)  # fmt: skip
def test_one_goodbye_alone_is_high(text: str) -> None:
    # labels: "a single weak sign (... one vague goodbye) with nothing else" is HIGH
    check(text, H, Category.SUICIDE_SELF_HARM)


@pytest.mark.parametrize(
    "text",
    ["мындан ары жазбайм. кош", "енді жазбаймын, қош болыңдар", "больше не напишу. прощайте",
     "мен кетем, кечиргиле баарыңар", "мен кетемін, кешіріңдер", "я ухожу, простите меня",
     "спасибо за всё. прощайте", "баары үчүн рахмат, кош болгула"],
)  # fmt: skip
def test_two_different_signs_of_a_goodbye_are_urgent(text: str) -> None:
    check(text, U, Category.SUICIDE_SELF_HARM)


@pytest.mark.parametrize(
    "text",
    ["мен оған енді жазбаймын, ол мені ренжітті", "мен үйгө кетем", "я ухожу на тренировку",
     "больше не напишу ему первой", "спасибо за всё, вы лучшие учителя"],
)  # fmt: skip
def test_one_weak_sign_of_leaving_stays_below_urgent(text: str) -> None:
    got, _ = rules(text)
    assert got is not U, (text, assess(text, second_opinion=False))


@pytest.mark.parametrize(
    "text", ["я завалила контрольную", "нам задали доклад", "мени курчап алышты деп ойлодум беле"]
)
def test_a_strict_stem_is_not_read_one_letter_away(text: str) -> None:
    # "зажали" (cornered) is one letter from "задали" (assigned) and "завалила" (failed)
    if text.startswith("мени"):
        assert rules(text)[0] is U  # "курчап" (surrounded) still reads
    else:
        assert rules(text)[0] is N, assess(text, second_opinion=False)


# --- contexts are read letter for letter --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["ағам мені ұрады, ешкім ештеңе демейді", "agam meni urady, eshkim eshtene demeidi",
     "агам мени урат, эч ким эч нерсе дебейт", "брат меня бьёт, никто ничего не говорит"],
)  # fmt: skip
def test_a_word_one_letter_from_a_time_marker_is_not_one(text: str) -> None:
    # "ештеңе" (nothing) is one letter from "ертең" (tomorrow): a beating told is HIGH home
    # abuse, not one planned for tomorrow
    check(text, H)


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("кичинемде атам мени ургулачу, азыр андай эмес", H),
        ("кішкентайымда әкем мені ұратын, қазір ұрмайды", H),
        ("в детстве отчим меня бил, сейчас нет", H),
        ("азыр атам мени уруп жатат", U), ("қазір әкем мені ұрып жатыр", U),
        ("отчим сейчас меня бьёт", U),
    ],
)  # fmt: skip
def test_childhood_told_from_now_is_the_past(text: str, priority: Priority) -> None:
    check(text, priority)
