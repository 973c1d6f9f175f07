"""Risk triage of student messages: pure Python, no I/O, no aiogram.

``assess(text)`` returns an ``Assessment``: a priority, a category and the lexicon signals
that decided them (shown to the psychologist; they are lexicon phrases, never message text,
so they can be logged and displayed without leaking what the student wrote).

Policy
------
URGENT — someone may be hurt now; the student is answered at once with emergency numbers
and the pool is alerted:
  * suicide or self-harm intent, plans or acts, including passive wishes ("не хочу жить",
    "жашагым келбейт", "өмірден шаршадым") and two different weak signs together
    ("🔪🩸", "прощайте" + "последнее сообщение");
  * violence happening now or imminent: a beating in progress ("уруп жатышат", "меня
    сейчас бьют"), a beating planned for today or after lessons, threats to kill,
    a weapon, threats of an attack on the school;
  * any sexual abuse, including an adult asking a child for intimate photos.
HIGH — harm that is real but not known to be happening this minute:
  * abuse at home (beaten by a parent or relative, locked in, not fed, thrown out);
    it becomes URGENT with a "now" marker ("әкем қазір анамды ұрып жатыр");
  * online extortion and threats to publish photos, videos or chats;
  * violence reported after the fact, bullying with beatings, threats or money taken;
  * drugs, alcohol, inhalants;
  * a single self-harm emoji (💊) with nothing else.
NORMAL — everything else: name-calling and exclusion (BULLYING), sadness, loneliness, fear,
parents divorcing (DISTRESS), tobacco and vapes (SUBSTANCES), greetings and questions
(OTHER). Lone weak hints ("таблетки", "умру") stay NORMAL and OTHER but are listed.

Not cancelled, on purpose: suicide signals are never dropped because a game, film or
homework is mentioned. Only threats to kill are read as play near a game or study word
("я убью тебя в доте"), only quoted words next to a song word are read as lyrics, and only
the tokens an idiom covers are cancelled ("умираю от смеха", "убить время", "күлүп өлдүм").

When in doubt the lexicon leans to over-flagging: a psychologist can lower a priority, but
an urgent message read tomorrow cannot be made early.

How it works: ``normalize`` folds spellings into one skeleton form, ``patterns`` matches
stems (and, for stems of five letters or more, their one-typo variants) and multi-word
patterns from ``lexicon``, ``lexicon_ideas`` (co-occurring word families: intent + means,
burden, adult + secrecy ...), ``lexicon_harm``, ``lexicon_other`` and ``idioms``, and
``scoring`` turns the hits into one decision.
"""

from bot.triage.scoring import Assessment, assess, assess_many

__all__ = ["Assessment", "assess", "assess_many"]
