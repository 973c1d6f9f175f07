"""Idioms that cancel a signal, and context markers that change how signals are read.

Idioms: "умираю от смеха", "убить время", "күлүп өлдүм" (died laughing), "эта домашка меня
убьёт", a football score ("бизди 5:0 уруп кетишти"). An idiom cancels only the signals
whose tokens it overlaps, so "умираю от смеха, а вообще хочу умереть" stays urgent.

Contexts:
- ``game``, ``study``: a video game, homework, a film or a book. They cancel only signals
  marked ``fiction`` (threats to kill: "я убью тебя в доте", "кс те мени өлтүрүштү") within
  a few tokens. Suicide signals are never cancelled by them: "как в фильме, хочу умереть"
  must stay urgent.
- ``song``: a song is mentioned and the signal sits entirely inside quotation marks
  («өлгүм келет сенсиз» in a song line). Unquoted words are never treated as lyrics.
- ``now``: сейчас, азыр, қазір, "help". Raises a ``now`` signal (a beating, a planned
  beating) to urgent.
- ``soon``: today, tomorrow, after lessons. Raises a ``now`` signal to urgent too, unless a
  ``past`` marker (вчера, кечээ, кеше ...) is as near: "вчера избили после школы" is a
  beating reported after the fact, high.
- ``family``: a parent or relative. A high violence signal near one is reported as abuse
  at home (the priority does not change).
- ``sport``: PE, changing rooms, a medical check-up: cancels "чечин деди" (told to undress).
- ``chat``: a class or group chat: cancels "sends nude photos" (there it is a leak, high).
- ``holiday``: holidays, camp: cancels "my last day" ("последний день каникул").
- ``school``: schoolmates, class, school. A high violence signal among schoolmates, with no
  relative named, is reported as bullying (the priority does not change).
"""

from __future__ import annotations

from bot.triage.families import KIN
from bot.triage.patterns import Rule, context, idiom

__all__ = ["CONTEXTS", "IDIOMS"]

IDIOMS: tuple[Rule, ...] = (
    idiom(
        "умираю от смеха",
        "умираю|умерла|умер|умру|сдох|помер|помираю =от|=со смех|скук|жар|голод|стыд|"
        "любопытств|ржач",
        window=1,
    ),
    idiom("убить время", "убить|убивать|убиваю|убьём времени|время|временем", window=1),
    idiom(
        "домашка меня убьёт",
        "домашк|контрольн|учёб|жара|скука|огэ|егэ|экзамен|оценк|двойк|математик|физик|хими|"
        "уроки|=эта|=этот|=это меня убьёт|убьют|убивает|доконает",
        window=1,
    ),
    idiom(
        "меня убивает эта жара",
        "меня убивает|убьёт =эта|=этот|=это|жара|скука|домашка|тишина|музыка",
        window=1,
    ),
    idiom("не хочу умирать", "=не хоч|хотел умирать|умереть", window=1),
    idiom("умирать не хочу", "умирать|умереть =не хоч|хотел", window=0),
    idiom("өлгүм келбейт", "өлгүм|өлгім ~кел", window=1),
    idiom("күлүп өлдүм", "күлүп|күліп|күлкүдөн|күлкіден|күлө|ржач өл", window=1),
    idiom(
        "ачкадан өлүп жатам",
        "ачкадан|аштықтан|уйкум|ұйқым|уйкудан|ұйқыдан|зериккен|пыстыр өл",
        window=2,
    ),
    idiom("бьёт мяч", "=бьёт|=бьет|бьют|=бил мяч|мячик|баклуш|рекорд|тревог|ключом", window=1),
    idiom(
        "футбол 5:0",
        "футбол|волейбол|баскетбол|матч|хоккей|шахмат|таймаш бизди|бізді|=нас|мени|меня "
        "уруп|ұрып|утуп|ұтып|обыграл|разгромил|порвали",
        window=2,
    ),
    idiom(
        "өлтүрө жаздады (чуть не убила)",
        "өлтүрө|өлтіре|өлтіріп|өлтүрүп|убила|убил жаздады|жаздап|жаздады|жибере|жібере",
        window=2,
    ),
    idiom(
        "застрелите меня (урок)",
        "застрелите|убейте|пристрелите|атыңдар меня|мени|мені|салгыла",
        window=1,
    ),
    idiom(
        "убил комара / чиркей өлтүрдүм",
        "чиркей|чиркейди|чымын|чыбын|маса|масаны|комар|муха|муху|таракан|сонун өлтүр|өлтір|"
        "убил|убила|прибил",
        window=6,
    ),
    idiom(
        "водяной пистолет / суу тапанча",
        "=суу|=су|водян тапанча|тапанша|пистолет|пистолета",
        window=1,
    ),
    idiom(
        "тест менен өлтүрүп жатышат",
        "тест|сабак|сабақ|экзамен|емтихан|тапшырма олтур|өлтір",
        window=2,
    ),
)

CONTEXTS: tuple[Rule, ...] = (
    context(
        "game",
        "=кс|=ксте|=кске|=ксда|ксго|=cs|csgo|дота|доте|доту|дотад|dota|дотк|пабг|pubg|"
        "майнкрафт|minecraft|роблокс|roblox|фортнайт|fortnite|стендоф|стандоф|standoff|"
        "бравл|brawl|фрифаер|валорант|варфейс|геншин|игр|оюн|ойын|катк|шутер|=гта|=gta|"
        "зомби|=босс|босса",
    ),
    context(
        "study",
        "реферат|доклад|сочинени|баяндама|эссе|учебник|литератур|фильм|кино|сериал|книг|"
        "роман|мультик|аниме|войн|согуш|соғыс|домашк|тапшырма|тапсырма|проект|контрольн|"
        "экзамен|емтихан|сынак|оценк|двойк|диктант",
    ),
    context(
        "song",
        "песн|песен|трек|поёт|поет|lyrics|строчк|куплет|припев|ырда|ырды|ырчы|ырын|"
        "әнде|әнді|=әні|әнші|музык|=ән|=ыр|айтқанда|ырдаганда",
    ),
    context("now", "сейчас|=щас|помогите|спасите|срочно|азыр|қазір|көмектес|комектес"),
    context("soon", "сегодня|завтра|бүгүн|эртең|бүгін|ертең"),
    context("soon", "после урок|школы|занятий", window=0),
    context("soon", "сабактан|сабақтан|мектептен кийин|кейін|чыкканда|шыққанда", window=0),
    context("soon", "выпускн"),
    context("past", "вчера|позавчера|прошл|кечээ|кеше|былтыр|өткөн|өткен|тогда|раньше"),
    # a joke: "сени өлтүрөм деп тамашалады 😂" is not a threat
    context(
        "joke",
        "тамаша|тамашала|шутк|шучу|шутя|пошутил|прикол|хаха|ахах|хахах|=ха|=лол|=лол|әзіл|"
        "азил|😂|смеял|смеется|смеётся|күлдү|күлүп|күліп|күлді|күлөт|күледі",
    ),
    # "это не шутка", "тамаша эмес": the joke context is void in this message
    context("notjoke", "=не шутк|шучу", window=0),
    context("notjoke", "тамаша|әзіл|азил эмес|емес", window=0),
    # livestock slaughtered for a feast: "кой союп жатышат тойго", "зарежем барана на курбан"
    context(
        "livestock",
        "=кой|=қой|койлорду|қойларды|=мал|малды|сиыр|=уй|=тоок|тоокту|тооктор|тоогу|тауық|ешкі|эчки|жылкы|жылқы|"
        "козу|қозы|кочкор|қошқар|курман|құрбан|курбан|=той|тойго|тойға|баран|овц|курицу|"
        "корову|скот",
    ),
    # cooking: "пияз туурап жатып колум кесилди", "резала лук"
    context(
        "kitchen",
        "пияз|пиязды|=лук|луком|луковиц|=нан|нанды|хлеб|картоп|картошк|салат|овощ|помидор|"
        "огурец|колбас|готовил|готовила|аршып|чистила|туурап|турап|кесилди|кесіліп|кесілді|"
        "зеленк|пластыр|пісіріп|пісірем|бышырып|бышырам|готовлю|ашкана|ашхана|кухн|сорпа|"
        "шорпо|=ет|=етті|=эт|=этти|мясо|тауық|тоок",
    ),
    # wanting to live: "өмір сүргім келеді, жай шаршадым", "жить хочется, просто устал"
    context(
        "alive",
        "=но|бирок|бірақ|=а|=все|=всё жить|жашагым|сүргім|сүргүм хоч|хочет|келет|келеді",
        window=1,
    ),
    context("now", "жардам бер", window=0),
    context("now", "=за мной идут|гонят|бегут|следят", window=0),
    context("family", KIN),
    # Changing for PE, the doctor's check-up: "чечингиле деди" there is not abuse.
    context(
        "sport",
        "физр|физкультур|тарбия|тәрбие|спортзал|спорт|раздевалк|переодева|переоде|форм|"
        "бассейн|медосмотр|врач|дарыгер|дәрігер|медбайке|медсестр|тренировк|машыгуу|"
        "жаттығу",
    ),
    # A class or group chat: photos posted there are leaked (high), not sent to the child.
    context(
        "chat",
        "чат|чатка|чатына|чатқа|чатта|группа|группу|группе|беседу|беседе|беседа|сторис|паблик",
    ),
    context("holiday", "каникул|лагер|отпуск|практик|смен|каникулдун|каникулдың|демалыс"),
    context(
        "school", "школ|класс|одноклассн|старшеклассн|мектеп|сынып|сыныптас|классташ|класстагы"
    ),
)
