"""Signals of violence, sexual abuse and abuse at home.

Beating verbs are the hard part. Kyrgyz "ур-" (to hit) shares its first letters with
"уруш-" (to scold, to quarrel) and Russian "урок", so only inflected forms that cannot be
scolding are listed (урат, урду, уруп; Kazakh ұрады, ұрды, ұрып). Russian "бьёт"
normalises to the skeleton "бет", which is also Kazakh for "face", so it matches only as a
whole word and only next to a person. Violence that is happening now or is planned for
today is raised to urgent by a "now" marker (see ``idioms.CONTEXTS``); a beating reported
without one stays high.
"""

from __future__ import annotations

from bot.domain import Category
from bot.triage.families import KIN
from bot.triage.patterns import Level, Rule, signal

__all__ = ["HARM"]

_V = Category.VIOLENCE
_X = Category.SEXUAL_ABUSE
_H = Category.HOME_ABUSE
_B = Category.BULLYING
_U = Level.URGENT
_HI = Level.HIGH

# Inflected forms of "to beat / to kick" in Kyrgyz and Kazakh (see the module docstring).
# "^урганы": one letter from Kazakh "ұрланып" (stolen), a different verb (ұрла-, steal).
BEAT_KY_KK = (
    "урат|урду|уруп|урабыз|урамыз|^урганы|ұрғалы|ұрады|ұрды|ұрып|ұрамыз|ұрамын|"
    "сабай|сабады|сабап|сабаш|тепкиле|тепкіле|тепти|теуіп|тээп|тебет|тебишет|"
    "соқты|соғады|соғып|муштай|муштап|муштады|мушташ|чабат|чапты|ургула|"
    "ұрған|урган|ұрғанда|жазалай|жазалап|тұншықтыр|тунчуктур|муунтуп|буунтуп"
)
BEAT_RU = (
    "=бьёт|=бьет|бьют|=бил|=била|=били|избива|избил|избит|побил|побьют|=побьёт|побить|"
    "пинают|пинает|пинали|душат|душит|душил|ударил|ударить|лупит|отлуп|колотит|порет|выпорол|"
    "хлещ|хлеста|отпизд|пиздят"
)
# Relatives in all three languages (``families.KIN``): parents, step-parents, elder
# sisters, brothers, uncles, grandparents, in-laws.
_PEOPLE_HOME = KIN
# The child (or the child and others) as the one beaten, in any of the three languages: "мени
# бьют" and "меня урат" are as common in mixed writing as the pure forms.
_ME = "меня|=нас|мени|мені|бизди|бізді|мине|мина"
_WEAPON = (
    "нож|пистолет|ствол|^травмат|ружь|оружи|топор|бычак|бычагы|пышақ|мылтық|балта|тапанча|"
    "тапанш|курал|қару"
)

HARM: tuple[Rule, ...] = (
    # --- violence happening, threatened or planned ---
    signal(
        "меня бьют / мени урат / мені бьют",
        f"{_ME} {BEAT_RU}|{BEAT_KY_KK}",
        _V,
        _HI,
        any_order=True,
        window=3,
        now=True,
    ),
    signal(
        "урабыз / побьёт (угроза)",
        "урабыз|урамыз|ұрамыз|сабайбыз|сабаймыз|=урам|ұрамын|урамын|=побьёт|побьют|изобьёт|"
        "изобьют|урою|уроем|ураймын|урайм|отпиздят|отпизжу|уебут|вломят|отметелят",
        _V,
        _HI,
        now=True,
    ),
    signal(
        "за волосы таскает",
        "чачым|шашым|волос сүйрө|сүйре|тартат|тартады|таска|дёрга|дерга|тянет|тащ",
        _V,
        _HI,
        any_order=True,
        now=True,
    ),
    signal(
        "затащил в машину",
        "машин|көлік|машына|тачк зордоп|күштеп|силой|затащ|запихн|отырғыз|салып",
        _V,
        _U,
        any_order=True,
        window=3,
    ),
    signal(
        "похитили / ала качуу",
        "похит|похищ|уурдап|ұрлап кетти|кетті|кетишти|алды",
        _V,
        _U,
        window=1,
        fiction=True,
    ),
    signal("похищение", "похитил|похищ", _V, _U, fiction=True),
    signal(
        "ала качты / алып қашты",
        "=ала|=алып качып|качты|кач|қашып|қашты",
        _V,
        _U,
        window=0,
        fiction=True,
    ),
    signal(
        "уруп жатышат / ұрып жатыр (сейчас)",
        "уруп|ұрып|сабап|тепкилеп|тепкілеп|теуіп жатат|жатышат|жатыр",
        _V,
        _U,
        window=0,
    ),
    signal(
        "будут бить",
        "будут|хотят|собираются|идут|придут|ждут бить|избить|побить|резать",
        _V,
        _HI,
        now=True,
    ),
    signal("угрожает", "угрожа|грозит|грозят|грозится|запугива", _V, _HI, now=True),
    signal(
        "угрожают избить",
        "угрожа|грозит|грозят|грозится побить|избить|бить",
        _V,
        _HI,
        now=True,
        window=1,
    ),
    signal(
        "убьют меня (угроза убийством)",
        "убью|убьют|убьёт|убить|убивают|прикончу|прикончат|зарежу|зарежут|зарезать|зарезали|"
        "застрелю|застрелят|пристрелю меня|тебя|=нас",
        _V,
        _U,
        any_order=True,
        window=3,
        fiction=True,
    ),
    signal(
        "мени өлтүрөм (угроза)",
        "мени|мені|сени|сені|бизди|бізді өлтүр|өлтір",
        _V,
        _U,
        any_order=True,
        window=3,
        fiction=True,
    ),
    signal(
        "всех убью / баарын өлтүрөм",
        "=всех|баарын|бәрін|баарыбызды|бәрімізді порежу|перереж|убью|перестреля|"
        "өлтүр|өлтір|^союм|^сайам",
        _V,
        _U,
        any_order=True,
        fiction=True,
    ),
    signal(
        "угрожает ножом",
        f"{_WEAPON} угрож|гроз|коркут|қорқыт|тычет|пристави|кезеп|сунуп|"
        "көрсөт|көрсет|показал|показыва|достал|тартып",
        _V,
        _U,
        any_order=True,
        window=3,
    ),
    signal("у него нож", "=у него|=нее|=неё|=них нож|пистолет|ствол", _V, _U, window=0),
    signal(
        "оружие в школу",
        f"принесу|пронесу|возьму|алып|әкел {_WEAPON}",
        _V,
        _U,
        any_order=True,
        window=3,
    ),
    signal(
        "стрельба в школе",
        "стрельб|скулшут|колумбайн|перестреля|взорв|заминир школ|мектеп|класс|урок",
        _V,
        _U,
        any_order=True,
        window=4,
        fiction=True,
    ),
    signal("скулшутинг", "скулшут|колумбайн", _V, _U, fiction=True),
    signal(
        "родитель с ножом",
        f"{_PEOPLE_HOME} {_WEAPON}",
        _V,
        _U,
        any_order=True,
        window=4,
        unless=("kitchen",),
    ),
    signal(
        "ранили ножом",
        f"{_WEAPON} жарадар|сайып|сайды|пырнап|ранил|ранен",
        _V,
        _HI,
        any_order=True,
        window=3,
    ),
    signal("насилие", "насилие|насилия|зомбулук|зорлық|зорлык", _V, _HI),
    signal("окружили", "окружил|окружают|^зажали|курчап|курчашты|қоршап|қоршады", _V, _U),
    signal(
        "ломится в дом + страх",
        "ломит|вломил|вламыва|кирип|кіріп|залез корк|қорқ|страш|боюсь|помог|жардам|көмек",
        _V,
        _U,
        any_order=True,
        window=6,
    ),
    # a beating among schoolmates is bullying with violence (high, raised by "now")
    signal(
        "бьют в школе",
        f"школ|класс|одноклассн|старшеклассн|мектеп|сынып|классташ {BEAT_KY_KK}|{BEAT_RU}",
        _B,
        _HI,
        any_order=True,
        window=6,
        now=True,
    ),
    # --- sexual abuse: always urgent ---
    signal("изнасилование", "изнасил|насилует|насиловал|насилуют|насиловать", _X, _U),
    signal(
        "домогается / пристаёт", "домога|лапает|лапал|щупает|щупал|совращ|растлен|педофил", _X, _U
    ),
    signal(
        "трогает меня",
        "трогает|трогал|трогают меня|=там|интим|груд|попу|между|колен|ноги|бедр|живот",
        _X,
        _U,
        any_order=True,
        window=3,
    ),
    signal(
        "заставляет раздеваться",
        "заставля|заставил|принужда раздева|раздеть|трогать|целовать|секс|интим",
        _X,
        _U,
        window=3,
    ),
    signal(
        "просит интимные фото",
        "просит|просил|требует|скинь|скинуть|отправь|пришли|присылать|хочет "
        "интим|нюд|голые|голое|голая|голых|обнажен|раздет",
        _X,
        _U,
        window=3,
        unless=("chat",),
    ),
    signal(
        "присылает голые фото",
        "присыла|скидыва|кидает|отправляет|жиберип|жіберіп|жиберет|жібереді "
        "голые|голое|голая|голых|интим|нюд|жылаңач|жалаңаш|член",
        _X,
        _U,
        window=3,
        unless=("chat",),
    ),
    signal(
        "обнимает и целует, неприятно",
        "обнима|целует|целовал|кучакта|құшақта|=өөп|өбеді|сүйеді "
        "неприятн|противн|страшн|жакпай|ұнамай|корком|қорқам",
        _X,
        _U,
        window=5,
    ),
    signal(
        "интим сүрөт жибер",
        "интим|жылаңач|жалаңаш|нюд сүрөт|сурет|фот|видео жибер|жібер|сал|таста|скин",
        _X,
        _U,
        window=2,
        unless=("chat",),
    ),
    signal(
        "сексуальное насилие",
        "сексуал|жыныстык|жыныстық|половое насил|зомбулук|зорлық|домога",
        _X,
        _U,
        window=1,
    ),
    signal("зордуктады / зорлады", "зордукта|зорла", _X, _U),
    signal(
        "ночью в комнате трогает",
        "ночью|ночам|түнү|түнкүсүн|түнде|комнат|бөлмөм|бөлмем|бөлмеме|постел|кроват "
        "трогает|трогал|лезет|тийишет|тийишип|тиіседі|тиісіп",
        _X,
        _U,
        any_order=True,
        window=6,
    ),
    # "тийишет" / "тиіседі" is picking on, teasing: bullying. With an adult man it is sexual
    # harassment (lexicon_themes, "взрослый пристаёт").
    signal(
        "тийишет / тиіседі (пристают)",
        "тийишет|тийишип|тийишти|тийишкен|тиіседі|тиісіп|тиісті|пристаёт|пристает|пристают|"
        "приставал|цепляется|цепляются",
        _B,
        Level.NORMAL,
    ),
    signal(
        "денеме кол тийгизет", "денеме|денемди|денемді =кол|=қол тийгиз|тигіз", _X, _U, window=1
    ),
    signal(
        "чечин деди / шешін деді",
        "чечин|шешін мажбур|мәжбүр|деди|деді|деп|дейт|дейді",
        _X,
        _U,
        any_order=True,
        unless=("sport",),
    ),
    # --- abuse at home: high, urgent when it is happening now ---
    signal(
        "бьют дома (родные)",
        f"{_PEOPLE_HOME} {BEAT_RU}|{BEAT_KY_KK}|ремн|ремен|белбеу",
        _H,
        _HI,
        any_order=True,
        window=4,
        now=True,
    ),
    signal("дома бьют", f"=дома|=домой|=дом {BEAT_RU}", _H, _HI, any_order=True, now=True),
    signal("домашнее насилие", "домашн|үйдөгү|тұрмыстық насил|зомбулук|зорлық", _H, _HI, window=0),
    signal("выгнали из дома", "выгнал|выгоня|выгна дом", _H, _HI),
    signal("үйдөн кууп чыгышты", "үйдөн|үйден кууп|қуып|куушту|қуды", _H, _HI, window=1),
    signal("запирают", "запира|запер меня|дома|комнат", _H, _HI, any_order=True),
    signal("не кормят", "=не кормят|кормит|кормили", _H, _HI, window=0),
    signal("не даёт есть", "=не даёт|дают|давали есть|кушать|еду|поесть|жрать", _H, _HI, window=1),
    signal(
        "камап коёт",
        "камап|қамап|камайт|қамайды|камачу|камайт бөлмө|бөлме|үйгө|үйге|үйдө|үйде|сарай|"
        "подвал|жертөле|жертөлө|балкон|ванна|дааратка|дәретхан|туалет|қойма|кампа|гараж|"
        "чатыр|шатыр|батир|пәтер|бурч|бұрыш",
        _H,
        _HI,
        any_order=True,
        window=3,
    ),
    signal("ачка калтырат / тамақ бермей", "ачка|=аш калтыр|қалдыр", _H, _HI, window=0),
    signal("тамақ бермейді", "тамак|тамақ бербей|бермей", _H, _HI, window=0),
)
