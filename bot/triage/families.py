"""Word families shared by many rules: relatives, night, room, negation, "not needed".

Each family is one constant of ``|``-separated stems (pattern syntax, see ``patterns``), so a
word added here widens every rule that uses it. They are written as classes, not phrases:

* kin terms in Kyrgyz, Kazakh and Russian with their possessive and case forms as prefix
  stems (атам, атамды, атасы ... from "атам|атаң|атасы"): parents, step-parents, elder
  sister (эже, апа, әпке), brothers, uncles (байке, ага/аға, таяке, агай, көке, нағашы),
  grandparents (чоң апа/ата, ажеке, әже, ата), in-laws (жезде, жеңе/жеңге) and the
  Russian words;
* Kyrgyz and Kazakh negation is inside the verb (``~stem`` in a pattern, see ``patterns``),
  so "not" words are listed here only for the analytic forms: "керек эмес", "кереги жок",
  "керегі жоқ", "не нужна";
* "tired" in its common forms: чарчадым, чарчап кеттим, тажадым, тажап бүттүм (ky),
  шаршадым, жалықтым, жададым (kk), устала, надоело (ru).
"""

from __future__ import annotations

__all__ = [
    "ADULT_MALE",
    "ENTER",
    "KIN",
    "MALE_KIN",
    "NIGHT",
    "NEEDLESS",
    "NOT_NEEDED",
    "PARENTS",
    "ROOM",
    "STEP",
    "TIRED",
]

# Step-parents: "өгөй ата", "өгей әке", "отчим", "мачеха".
STEP = "өгөй|өгей|отчим|отчиму|мачех"
# Parents (ky, kk, ru). "ата" and "апа" are prefix stems only in their possessive forms:
# bare "ата" starts "атайт" (they call) and bare "апа" starts "апатия".
PARENTS = (
    "атам|атаң|атасы|атабыз|=ата|энем|энең|энеси|энекем|=эне|апам|апаң|апасы|=апа|апакем|"
    "әкем|әкең|әкесі|әкеміз|=әке|анам|анаң|анасы|=ана|шешем|шешең|шешесі|=шеше|"
    "папа|папк|=пап|мама|мамк|=мам|=мать|=матери|мамаш|отец|отца|отцу|"
    "родител|предки"
)
# Other relatives who live with or visit a child (ky, kk, ru).
RELATIVES = (
    "эжем|эжең|эжеси|эжекем|эжеке|=эже|әпкем|әпкең|әпкесі|=әпке|апкем|тәтем|тәтесі|=тәте|"
    "агам|агаң|агасы|агатай|агайым|=ага|ағам|ағаң|ағасы|ағатай|=аға|ағайым|=агай|=ағай|"
    "байкем|байкең|байкеси|байке|таяке|тайаке|таякем|тайакем|таякеси|тайке|тайкем|таятам|"
    "тайенем|көкем|көкең|көкесі|"
    "=көке|нағашы|нагашы|иним|иниси|інім|інісі|карындаш|сиңдим|сіңлім|"
    "жезде|жеңем|жеңеси|=жеңе|жеңгем|жеңгесі|=жеңге|"
    "ажеке|ажем|ажеси|ажекем|әжем|әжең|әжесі|=әже|атакем|"
    "тууган|туыс|"
    "брат|братан|сестр|дядя|дяди|дядей|дядьк|тётя|тёти|тётк|=тетя|дедушк|=дед|=деда|дедом|"
    "бабушк|бабул|бабк|зять|двоюрод|опекун|сожител|=муж"
)
KIN = f"{STEP}|{PARENTS}|{RELATIVES}"
# Men outside the parents who may be alone with a child at night or after school.
# Not the father or a brother: a step-parent, uncles, brothers-in-law, a mother's partner,
# neighbours, coaches, strangers.
ADULT_MALE = (
    f"{STEP}|байке|байкем|таяке|тайаке|таякем|тайке|тайкем|таятам|агай|ағай|көке|нағашы|"
    "нагашы|жезде|дядя|дяди|дядьк|сожител|мужик|мужчин|сосед|кошуна|көрші|тренер|"
    "машыктыруучу|жаттықтырушы|репетитор|бейтаныс|незнаком|тааныбаган|киши|кісі|"
    "күйөөсү|күйеуі|мамин|маминого|маминым|таксист|жүргізуші|айдоочу|күзөтчү|күзетші|охранник"
)
# Men of the family other than the father: elder brothers, cousins, uncles, grandfathers,
# brothers-in-law (with ``ADULT_MALE``: whoever's hug, bed or secret is a warning sign).
MALE_KIN = (
    f"{ADULT_MALE}|агам|ағам|=ага|=аға|агатай|ағатай|брат|братан|двоюрод|дедушк|=дед|=деда|"
    "атакем|чоң|таятам|ағасы|агасы"
)
NIGHT = "ночью|ночам|ночь|түнү|түнкүсүн|түндө|түнде|түнгі|кечинде|кешке|кешкісін"
ROOM = "комнат|постел|кроват|одеял|бөлмө|бөлме|төшөк|төсек|керебет|жууркан|көрпе|ванн|душ"
# Entering, lying down beside, getting under the blanket.
ENTER = (
    "заход|заходит|заходил|зайдет|приход|ложит|ложил|лезет|залез|кирет|кирип|кирди|"
    "киреди|кіреді|кіріп|кірді|жатат|жатып|жатады|жатқыз|жаткыз"
)
# "not needed" as two slots (керек эмес, кереги жок, керегі жоқ ...) and as one word.
NOT_NEEDED = "керек|кереги|керегі|керегим|керегім эмес|емес|жок|жоқ"
NEEDLESS = "керексиз|керексіз|ненужн"
TIRED = (
    "чарча|тажа|тажад|шарша|жалык|жалық|жалыг|жадад|жадап|бездим|безип|"
    "устал|надоел|задолбал|заебал"
)
