"""What the benchmark students write: short messages in Russian, Kyrgyz and Kazakh, a few of
them urgent, each carrying a marker so its relay can be found again."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from fake_telegram import TgUser

# Mostly the everyday (bullying, school, home), some high, a few urgent, as a trust line
# gets them; triage runs on all of them.
MESSAGES = (
    "в классе надо мной смеются и забирают телефон",
    "мне страшно идти в школу, старшие требуют деньги",
    "родители всё время ругаются, я не могу спать",
    "меня обзывают в чате класса и кидают мои фото",
    "мен мектепке баргым келбейт, балдар мени кордошот",
    "ата-энем урушат, үйдө жаман",
    "мені сыныптастарым мазақтайды, не істерімді білмеймін",
    "мугалим баарынын алдында мени уят кылды",
    "привет, можно просто поговорить? мне грустно",
    "подруга перестала со мной общаться и всем рассказала мой секрет",
    "мне угрожают что выложат мои фото если не заплачу",
    "отчим бьет меня когда выпьет",
    "спасибо, мне стало легче",
)
URGENT = (
    "бүгін тағы да мені ұрды, қорқамын",
    "я не хочу больше жить, никто не поймет",
    "өзүмө зыян келтиргим келет",
)
URGENT_SHARE = 0.01  # of messages; about one case in ten turns urgent at some point
MARKER = re.compile(r"\(m(\d+)\)")


def marked(text: str, seq: int) -> str:
    return f"{text} (m{seq})"


def marker_of(text: str | None) -> int | None:
    if not text:
        return None
    found = MARKER.search(text)
    return int(found.group(1)) if found else None


def students(count: int, first_id: int = 10_000_000) -> list[TgUser]:
    langs = ("ru", "ky", "kk", None)
    return [TgUser(first_id + i, f"Student{i}", language_code=langs[i % 4]) for i in range(count)]


@dataclass(frozen=True, slots=True)
class Message:
    user: TgUser
    text: str
    seq: int


def interleaved(users: list[TgUser], per_user: int, first_seq: int, seed: int) -> list[Message]:
    """`per_user` messages from each user, arriving in a random interleaving (each user's
    own messages stay in order), as many students writing at once would."""
    rng = random.Random(seed)
    order = [u for u in range(len(users)) for _ in range(per_user)]
    rng.shuffle(order)
    out = []
    for i, u in enumerate(order):
        pool = URGENT if rng.random() < URGENT_SHARE else MESSAGES
        text = pool[rng.randrange(len(pool))]
        out.append(Message(users[u], marked(text, first_seq + i), first_seq + i))
    return out


def conversation_load(
    writing: list[TgUser],
    newcomers: list[TgUser],
    count: int,
    first_seq: int,
    seed: int,
    new_every: int = 10,
) -> list[Message]:
    """`count` messages: every `new_every`-th opens a case for a newcomer (a case card for the
    pool), the rest come from students whose case a psychologist holds (a relay)."""
    rng = random.Random(seed)
    out = []
    fresh = iter(newcomers)
    for i in range(count):
        user = next(fresh, None) if i % new_every == new_every - 1 else None
        if user is None:
            user = writing[i % len(writing)]
        pool = URGENT if rng.random() < URGENT_SHARE else MESSAGES
        text = pool[rng.randrange(len(pool))]
        out.append(Message(user, marked(text, first_seq + i), first_seq + i))
    return out
