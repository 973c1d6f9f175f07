"""Risk triage of student messages: pure Python, no I/O, no aiogram.

``assess(text)`` returns an ``Assessment``: a priority, a category and the lexicon signals
that decided them (shown to the psychologist; they are lexicon phrases, never message text,
so they can be logged and displayed without leaking what the student wrote).

Policy
------
URGENT — someone may be hurt now; the student is answered at once with emergency numbers
and the pool is alerted:
  * suicide or self-harm intent, plans or acts, including passive wishes ("не хочу жить",
    "жашагым келбейт", "өмірден шаршадым", "жок болуп кеткім келет"), "my last day",
    goodbye messages, giving belongings away, standing on a roof or bridge looking down,
    self-harm happening now, and two different weak signs together ("🔪🩸", "прощайте" +
    "последнее сообщение", "мындан ары жазбайм" + "кош"; one goodbye said in several
    words, "кош болгула", is one sign: HIGH);
  * violence happening now or imminent: a beating in progress ("уруп жатышат", "мени щас
    бьют"), a beating planned for today or after lessons, being chased or held now, threats
    to kill, a weapon, threats of an attack on the school, kidnapping, bride kidnapping
    (ала качуу) and forced marriage; being locked in and still there (the perfective "locked
    and left": "камап кетти", "қамап қойды", "меня заперли"; the habitual "камап коёт" is
    abuse at home, HIGH; a past marker nearby makes it a story told afterwards);
  * any sexual abuse, including an adult asking a child for intimate photos, sending sexual
    images to a child, or a step-parent or another man coming into the child's room or bed
    at night.
HIGH — harm that is real but not known to be happening this minute:
  * abuse at home (beaten by a parent or relative, locked in as a habit, not fed, thrown out);
    it becomes URGENT with a "now" marker ("әкем қазір анамды ұрып жатыр");
  * online extortion, threats to publish photos, videos or chats, intimate photos leaked to
    a class chat, money demanded under threat, "the meter" (счётчик);
  * violence reported after the fact, bullying with beatings, threats or money taken,
    being made to steal, threats, stalking;
  * drugs, alcohol, inhalants;
  * a single self-harm emoji (💊) or one weak sign of a goodbye with nothing else.
NORMAL — everything else: name-calling, teasing ("тийишет", "тиіседі" among classmates) and
exclusion (BULLYING), sadness, loneliness, fear, tiredness, parents divorcing (DISTRESS),
tobacco and vapes (SUBSTANCES), greetings and questions (OTHER). Lone weak hints
("таблетки", "умру") stay NORMAL and OTHER but are listed.

The learned model (``model.py``, a second opinion on every message the rules leave below
URGENT) reads each message with thresholds that depend on what the rules found in it —
nothing at all, only weak hints (NORMAL with signals), or HIGH. They are chosen on
out-of-writer predictions: each writer's messages scored by a model trained without that
writer (``tools/train_triage_model`` decides them and records the figures in model.json),
because what matters is the next child, who writes like none of the writers. It may:
  * make a message URGENT when its urgent head passes the threshold for that group (for
    messages the rules made HIGH, its ``now`` head: happening now, or real but not this
    minute?): the lowest thresholds that keep urgent precision, rules and model together,
    at 0.88 on out-of-writer predictions; a group where that does not pay gets no
    threshold (2.0) and the model makes nothing URGENT there (``urgent_allowed`` off when
    no group pays);
  * make a message HIGH when its flag head (urgent or high) passes the threshold for that
    group: the highest thresholds that keep 98.5% of urgent and high messages noticed, so
    the bot asks "are you safe?" as seldom as that allows;
  * on a message shorter than ``min_words`` words, make only the strong call: with no rule
    signal the flag head does not raise it ("сообщение 1", "помогите с домашкой"), with
    weak hints the urgent head makes it HIGH, not URGENT ("мне страшно");
  * never lower what the rules decided, and never act when an idiom, a game, a song or
    another cancellation (a joke, cooking, PE) explained a signal away.
How well this holds for a new writer is measured by leave-one-writer-out
(``python -m tools.train_triage_model --leave-one-writer-out``, figures in
benchmarks/BENCHMARKS.md).

Not cancelled, on purpose: suicide signals are never dropped because a game, film or
homework is mentioned. Only threats to kill are read as play near a game or study word
("я убью тебя в доте"), only quoted words next to a song word are read as lyrics, and only
the tokens an idiom covers are cancelled ("умираю от смеха", "убить время", "күлүп өлдүм").

When in doubt the lexicon leans to over-flagging: a psychologist can lower a priority, but
an urgent message read tomorrow cannot be made early.

How it works: ``normalize`` folds spellings into one skeleton form, ``patterns`` matches
stems (for stems of five letters or more outside sexual abuse, their one-typo variants too;
``~stem`` is a Kyrgyz/Kazakh verb in the negative; a stem with a Kyrgyz long vowel that
folds to under four letters, "тээп", "өөп", matches whole words only) and multi-word
patterns from ``lexicon``, ``lexicon_ideas`` (co-occurring word families: intent + means,
burden, adult + secrecy ...), ``lexicon_themes`` (the themes of issue 13), ``lexicon_harm``,
``lexicon_other`` and ``idioms``, sharing word families from ``families`` (kin terms, night,
"not needed", "tired"); ``scoring`` turns the hits and the model's opinion into one
decision. ``python -m benchmarks.triage_confusion FILE.jsonl`` measures rules, model and the
shipped decision on any labelled file.
"""

from bot.triage.scoring import Assessment, assess, assess_many

__all__ = ["Assessment", "assess", "assess_many"]
