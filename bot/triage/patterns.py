"""Lexicon rules and the matcher that finds them in a token list.

A rule's pattern is written in ordinary spelling and compiled through the same normaliser as
messages (see ``normalize``), so "өлгүм", "олгум" and "olgum" are one stem. Syntax:

- words separated by spaces are *slots* that must appear in order, each within ``window``
  tokens of the previous one (``any_order`` lets a two-slot rule match either way round);
- ``a|b|c`` inside a slot are alternatives;
- a plain stem matches any token that *starts with* it, which is how agglutinative Kyrgyz and
  Kazakh forms (өлтүрөм, өлтүргүм, өлтүрүп ...) and Russian endings are covered;
- ``=stem`` matches the whole token only, for short words that prefix too much ("=с", "=бет");
- ``^stem`` is never matched fuzzily (a stem one letter away from a common word);
- ``~stem`` is a Kyrgyz or Kazakh verb stem in the *negative*: Turkic languages negate
  inside the verb (кел-бе-йт, кел-ме-йді, жаша-ба-йм, бер-бе-с, ойгон-бо-й), so a rule can
  never ask for a separate "не" before a ky/kk verb. ``~кел`` matches the stem followed by
  the negative suffix in every harmony variant (-ба/-бе/-бо/-бө/-па/-пе/-по/-пө/-ма/-ме/
  -мо/-мө) and so every negative form after it (-бай, -бас, -майды, -бейт ...).

Misspellings: a prefix stem of at least ``FUZZY_MIN`` skeleton letters also matches a token
that starts with the stem at edit distance 1 (one letter replaced, added, or two neighbours
swapped: "суецид", "самоубиство", "таблетьки"); a letter missing from the token counts
only for stems of ``FUZZY_MIN + 1`` letters or more, because a short stem missing a letter
prefixes too many words ("отур" is "өлтүр" without "л"). The first letter and the last three
never vary: the end of a Kyrgyz or Kazakh stem is often a suffix, and there one letter is
grammar ("өлгүм" I want to die, "өлдүм" I died). Sexual-abuse rules are never matched
fuzzily (``signal`` turns it off for that category): there a false alarm is the worst one
("шапалақтады", slapped, is one letter from "щупал", groped). The index holds each stem
with one letter deleted, so a new token costs a few dozen dictionary lookups once, cached
with the exact matches.

Prefix stems must normalise to at least three letters in the first slot and two elsewhere:
a shorter prefix would match half the dictionary, and the check makes that a build error.
Kyrgyz long vowels fold to one letter, so a stem such as "тээп" (kicking), "өөп" (kissing),
"кууп" (chasing) or "саат" (hour) becomes a three-letter prefix of everyday words ("теперь",
"опаздываю", "сатып"): a stem written with a doubled vowel that folds to fewer than
``LONG_VOWEL_MIN`` letters matches the whole token only, as if written ``=stem``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, NamedTuple

from bot.domain import Category
from bot.triage.normalize import SIGNAL_EMOJI, tokenize

__all__ = [
    "Hit", "Kind", "Level", "Matcher", "Rule", "Slot", "compile_slots", "context", "idiom",
    "signal",
]  # fmt: skip


class Level(IntEnum):
    """Severity of a signal; HINT counts only towards a combination of weak signals."""

    HINT = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class Kind(Enum):
    SIGNAL = "signal"  # names a risk: category and level
    IDIOM = "idiom"  # cancels any signal whose tokens it overlaps ("умираю от смеха")
    CONTEXT = "context"  # marks the message: game, study, song, now, school


@dataclass(frozen=True, slots=True)
class Slot:
    prefixes: tuple[str, ...]  # a token starting with one of these fills the slot
    exact: frozenset[str]  # ... or a token equal to one of these
    strict: frozenset[str] = frozenset()  # prefixes never matched fuzzily ("^травмат")
    fuzzy: bool = True  # False: no one-typo variants for any stem of this slot


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    label: str  # shown to the psychologist: lexicon words, never message text
    slots: tuple[Slot, ...]
    kind: Kind = Kind.SIGNAL
    category: Category | None = None
    level: Level = Level.NORMAL
    context: str = ""  # for CONTEXT rules
    window: int = 2  # tokens allowed between consecutive slots
    any_order: bool = False
    fiction: bool = False  # cancelled near a game/study/film context ("убью тебя в доте")
    now: bool = False  # raised to URGENT near a "now" marker (сейчас, азыр, қазір ...)
    weak: bool = False  # two distinct weak signals of one category combine
    unless: tuple[str, ...] = ()  # contexts that cancel it nearby ("sport" for "чечин")
    # Weak rules reading one sign in different words share it ("goodbye": "кош", "прощайте",
    # "кош болгула"): only different signs combine into a stronger one.
    sign: str = ""


class Hit(NamedTuple):
    rule: Rule
    start: int
    end: int


# The negative suffix of Kyrgyz and Kazakh verbs in every harmony variant, as skeleton letters
# (ө and ү are о and у there): б after vowels and voiced consonants, п after voiceless ones,
# м after nasals (and in Kazakh after vowels).
_NEGATIVE = tuple(c + v for c in "бпм" for v in "аео")


LONG_VOWEL_MIN = 4
_LONG_VOWEL = re.compile(r"([аеэиоуыөүәіұ])\1")


def _expand(alternative: str) -> list[str]:
    if not alternative.startswith("~"):
        return [alternative]
    stem = alternative[1:]
    return [stem + suffix for suffix in _NEGATIVE]


def compile_slots(pattern: str, *, fuzzy: bool = True) -> tuple[Slot, ...]:
    slots: list[Slot] = []
    for position, part in enumerate(pattern.split()):
        prefixes: set[str] = set()
        exact: set[str] = set()
        strict: set[str] = set()
        for alternative in (a for raw in part.split("|") for a in _expand(raw)):
            no_fuzz = alternative.startswith("^")
            alternative = alternative.removeprefix("^")
            whole = alternative.startswith("=")
            stem = alternative[1:] if whole else alternative
            tokens = tokenize(stem)
            if len(tokens) != 1:
                raise ValueError(f"stem {alternative!r} normalises to {tokens!r}")
            token = tokens[0]
            if len(token) < LONG_VOWEL_MIN and _LONG_VOWEL.search(stem.lower()):
                whole = True  # "тээп" is "теп": not a prefix of "теперь" (module docstring)
            shortest = 3 if position == 0 else 2
            if not whole and len(token) < shortest and token not in SIGNAL_EMOJI:
                raise ValueError(f"prefix stem {alternative!r} is too short; use '={stem}'")
            (exact if whole else prefixes).add(token)
            if no_fuzz:
                strict.add(token)
        slots.append(Slot(tuple(sorted(prefixes)), frozenset(exact), frozenset(strict), fuzzy))
    if not slots:
        raise ValueError("empty pattern")
    return tuple(slots)


def signal(
    label: str,
    pattern: str,
    category: Category,
    level: Level,
    *,
    fuzzy: bool = True,
    **options: Any,
) -> Rule:
    """A risk signal: ``pattern`` found means ``category`` at ``level``.

    Sexual-abuse signals are never matched with one-typo tolerance (see the module
    docstring); ``fuzzy=False`` turns it off for others too.
    """
    fuzzy = fuzzy and category is not Category.SEXUAL_ABUSE
    return Rule(
        label, compile_slots(pattern, fuzzy=fuzzy), Kind.SIGNAL, category, level, **options
    )


def idiom(label: str, pattern: str, **options: Any) -> Rule:
    """A harmless set phrase; any signal overlapping it is dropped."""
    return Rule(label, compile_slots(pattern), Kind.IDIOM, **options)


def context(name: str, pattern: str, **options: Any) -> Rule:
    """A marker that changes how nearby signals are read (game, study, song, now, school).

    Never matched one letter away: a context changes how every signal near it is read, and
    its short words sit one letter from everyday ones ("ертең" tomorrow / "ештеңе" nothing,
    "күлүп" laughing / "келип" coming)."""
    return Rule(name, compile_slots(pattern, fuzzy=False), Kind.CONTEXT, context=name, **options)


class Matcher:
    """Finds every rule occurrence in a token list; built once, read-only afterwards.

    Every distinct slot gets an id. A token is looked up once (and cached) to learn which
    slot ids it satisfies and which rules it can start; completing a rule is then set
    membership, and a rule whose other slots occur nowhere in the message is skipped
    without scanning. Tokens repeat across messages ("мен", "я", "мени"), so the cache
    hit rate is high; it is cleared rather than evicted when it grows too big.
    """

    _CACHE_LIMIT = 50_000
    FUZZY_MIN = 5
    # Occurrences of one signal rule beyond this many in a message are ignored. They could
    # only matter in a contrived message whose first occurrences all sit inside idioms or a
    # game context; the cap keeps a 4096-character flood ("🔪🩸🔪🩸...") as cheap as prose.
    # Idioms and contexts are never capped: a late "сейчас" must still make a beating urgent.
    MAX_HITS_PER_RULE = 32

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        ids: dict[Slot, int] = {}
        strict = {stem for rule in rules for slot in rule.slots for stem in slot.strict}
        self._prefix_index: dict[str, list[int]] = {}
        self._fuzzy_index: dict[str, list[int]] = {}  # the same, fuzzy slots only
        self._exact_index: dict[str, list[int]] = {}
        self._starters: dict[int, list[_Compiled]] = {}
        for rule in rules:
            if rule.any_order and len(rule.slots) != 2:
                raise ValueError(f"any_order needs exactly two slots: {rule.label!r}")
            slot_ids: list[int] = []
            for slot in rule.slots:
                if slot not in ids:
                    ids[slot] = len(ids)
                    for stem in slot.prefixes:
                        self._prefix_index.setdefault(stem, []).append(ids[slot])
                        if slot.fuzzy:
                            self._fuzzy_index.setdefault(stem, []).append(ids[slot])
                    for stem in slot.exact:
                        self._exact_index.setdefault(stem, []).append(ids[slot])
                slot_ids.append(ids[slot])
            compiled = _Compiled(rule, tuple(slot_ids), frozenset(slot_ids[1:]))
            self._starters.setdefault(slot_ids[0], []).append(compiled)
        self._lengths = tuple(sorted({len(stem) for stem in self._prefix_index}))
        # Fuzzy index (see the module docstring): variants of a stem with one letter deleted,
        # keyed by the position of the deletion, and the variants a shorter token would have.
        stems = {
            stem
            for stem in self._fuzzy_index
            if len(stem) >= self.FUZZY_MIN and stem.isalpha() and stem not in strict
        }
        self._fuzzy_stems = frozenset(stems)
        self._fuzzy_lengths = tuple(sorted({len(stem) for stem in stems}))
        self._fuzzy_replaced: dict[tuple[int, str], set[str]] = {}
        self._fuzzy_missing: dict[str, set[str]] = {}
        for stem in stems:
            for i in _editable(stem):
                variant = stem[:i] + stem[i + 1 :]
                self._fuzzy_replaced.setdefault((i, variant), set()).add(stem)
                if len(stem) > self.FUZZY_MIN:
                    self._fuzzy_missing.setdefault(variant, set()).add(stem)
        self._cache: dict[str, tuple[frozenset[int], tuple[_Compiled, ...]]] = {}

    def _lookup(self, token: str) -> tuple[frozenset[int], tuple[_Compiled, ...]]:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        found: set[int] = set(self._exact_index.get(token, ()))
        size = len(token)
        for length in self._lengths:
            if length > size:
                break
            found.update(self._prefix_index.get(token[:length], ()))
        if size >= self.FUZZY_MIN - 1:
            for stem in self._fuzzy(token):
                found.update(self._fuzzy_index[stem])
        starters = tuple(c for slot_id in sorted(found) for c in self._starters.get(slot_id, ()))
        result = (frozenset(found), starters)
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = result
        return result

    def _fuzzy(self, token: str) -> set[str]:
        """Fuzzy stems ``token`` starts with, one edit away (see the module docstring)."""
        found: set[str] = set()
        size = len(token)
        replaced = self._fuzzy_replaced
        missing = self._fuzzy_missing
        stems = self._fuzzy_stems
        for length in self._fuzzy_lengths:
            if length - 1 > size:
                break
            positions = _editable_range(length)
            head = token[: length - 1]
            if head in missing:  # the token lacks one letter of the stem
                found.update(missing[head])
            if size >= length:
                head = token[:length]
                for i in positions:
                    hit = replaced.get((i, head[:i] + head[i + 1 :]))
                    if hit:  # one letter replaced
                        found.update(hit)
                    swapped = head[:i] + head[i + 1 : i + 2] + head[i] + head[i + 2 :]
                    if swapped in stems and swapped != head:  # two neighbours swapped
                        found.add(swapped)
            if size > length:  # one letter too many
                head = token[: length + 1]
                for i in positions:
                    variant = head[:i] + head[i + 1 :]
                    if variant in stems:
                        found.add(variant)
        return found

    def find(self, tokens: list[str]) -> list[Hit]:
        cached = self._cache.get
        looked_up = [cached(token) or self._lookup(token) for token in tokens]
        sets = [slot_ids for slot_ids, _ in looked_up]
        present: set[int] = set().union(*sets)
        hits: list[Hit] = []
        counts: dict[Rule, int] = {}
        for i, (_, starters) in enumerate(looked_up):
            for compiled in starters:
                rule = compiled.rule
                count = counts.get(rule, 0)
                if count >= self.MAX_HITS_PER_RULE and rule.kind is Kind.SIGNAL:
                    continue
                if not compiled.rest:
                    span: tuple[int, int] | None = (i, i)
                elif compiled.rest <= present:
                    span = _complete(compiled, sets, i)
                else:
                    continue
                if span is not None:
                    hits.append(Hit(rule, span[0], span[1]))
                    counts[rule] = count + 1
        return hits


def _editable_range(length: int) -> range:
    # The first letter and the last three never vary: in Kyrgyz and Kazakh the end of a stem
    # is often a suffix, and one letter there is grammar ("калгым" want to stay, "калдым"
    # stayed; "өлгүм" want to die, "өлдүм" died).
    return range(1, length - 3)


def _editable(stem: str) -> range:
    return _editable_range(len(stem))


class _Compiled(NamedTuple):
    rule: Rule
    ids: tuple[int, ...]  # slot ids in pattern order
    rest: frozenset[int]  # ids of the slots after the first


def _complete(
    compiled: _Compiled, sets: list[frozenset[int]], start: int
) -> tuple[int, int] | None:
    """The span of a rule whose first slot is at ``start``, or None if the rest is absent."""
    rule = compiled.rule
    count = len(sets)
    reach = rule.window + 1
    if rule.any_order:
        second = compiled.ids[1]
        for j in range(max(0, start - reach), min(count, start + reach + 1)):
            if j != start and second in sets[j]:
                return min(start, j), max(start, j)
        return None
    position = start
    for slot_id in compiled.ids[1:]:
        for j in range(position + 1, min(count, position + reach + 1)):
            if slot_id in sets[j]:
                position = j
                break
        else:
            return None
    return start, position
