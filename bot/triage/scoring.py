"""From lexicon hits to one priority, one category and the signals behind them."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from bot.domain import PRIORITY_RANK, Category, Priority
from bot.triage.lexicon import RULES
from bot.triage.model import Model, load_model
from bot.triage.normalize import QUOTE, tokenize
from bot.triage.patterns import Hit, Kind, Level, Matcher, Rule

__all__ = ["Assessment", "assess", "assess_many", "model_priority", "rules_reading"]

# When two findings have the same level, the more specific category names the case.
# Extortion comes before violence because "угрожает выложить фото" is both.
_CATEGORY_ORDER = (
    Category.SUICIDE_SELF_HARM,
    Category.SEXUAL_ABUSE,
    Category.HOME_ABUSE,
    Category.ONLINE_EXTORTION,
    Category.VIOLENCE,
    Category.BULLYING,
    Category.SUBSTANCES,
    Category.DISTRESS,
)
_CATEGORY_RANK = {category: rank for rank, category in enumerate(_CATEGORY_ORDER)}
_SHORT_NAME = {
    Category.SUICIDE_SELF_HARM: "suicide",
    Category.SEXUAL_ABUSE: "sexual abuse",
    Category.HOME_ABUSE: "home",
    Category.ONLINE_EXTORTION: "extortion",
    Category.VIOLENCE: "violence",
    Category.BULLYING: "bullying",
    Category.SUBSTANCES: "substances",
    Category.DISTRESS: "distress",
}
# Two different weak signals of one category ("🔪" and "🩸", "прощайте" and "последнее
# сообщение") are read together at this level.
_COMBINED_LEVEL = {
    Category.SUICIDE_SELF_HARM: Level.URGENT,
    Category.SEXUAL_ABUSE: Level.URGENT,
    Category.VIOLENCE: Level.URGENT,
}
_PRIORITY = {Level.URGENT: Priority.URGENT, Level.HIGH: Priority.HIGH}

_FICTION_REACH = 8  # tokens between a game/study word and the threat it neutralises
_NOW_REACH = 8  # tokens between "сейчас"/"азыр" and the beating it makes urgent
_COMPANY_REACH = 6  # tokens between the violence and who does it
_MAX_SIGNALS = 8

_MATCHER = Matcher(RULES)
# The sign each weak rule reads (its label unless rules share one, see ``Rule.sign``).
_SIGN = {rule.label: rule.sign or rule.label for rule in RULES}


@dataclass(frozen=True, slots=True)
class Assessment:
    """Risk of one message. ``signals`` are lexicon labels, never text from the message."""

    priority: Priority
    category: Category
    signals: tuple[str, ...]


class _Finding(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: one is built per matched signal, and
    # tuple construction is several times cheaper on this hot path.
    category: Category
    level: Level
    label: str
    weak: bool = False
    note: str = ""

    def sort_key(self) -> tuple[int, int]:
        return -self.level, _CATEGORY_RANK[self.category]

    def describe(self) -> str:
        qualifier = " (weak)" if self.weak else ""
        return f"{_SHORT_NAME[self.category]}{qualifier}: '{self.label}'{self.note}"


_NOTHING = Assessment(Priority.NORMAL, Category.OTHER, ())


def assess(
    text: str, *, second_opinion: bool | None = None, model: Model | None = None
) -> Assessment:
    """Score one student message for risk (pure, no I/O; any length, any characters).

    ``second_opinion`` (default on) lets the learned model raise a message the rules left
    below URGENT, unless an idiom, game or song cancellation fired (see ``_second_opinion``).
    ``model`` replaces the shipped model.json (to measure a model trained without a writer:
    ``python -m tools.train_triage_model --leave-one-writer-out``).
    """
    use_model = True if second_opinion is None else second_opinion
    decided, tokens, cancelled = rules_reading(text)
    if cancelled or not use_model or not tokens or decided.priority is Priority.URGENT:
        return decided
    return _second_opinion(decided, tokens, model)


def rules_reading(text: str) -> tuple[Assessment, list[str], bool]:
    """The rules' decision, the message's tokens, and whether a cancellation fired.

    A cancellation is an idiom, a game, study or song context, or another ``unless``
    context explaining a signal away; it vetoes the learned model.
    """
    tokens, quoted = _split_quotes(tokenize(text))
    if not tokens:
        return _NOTHING, tokens, False
    hits = _MATCHER.find(tokens)
    signals: list[Hit] = []
    covered: list[bool] | None = None  # tokens inside a harmless idiom
    contexts: dict[str, list[int]] = {}
    for hit in hits:
        kind = hit.rule.kind
        if kind is Kind.SIGNAL:
            signals.append(hit)
        elif kind is Kind.IDIOM:
            if covered is None:
                covered = [False] * len(tokens)
            covered[hit.start : hit.end + 1] = [True] * (hit.end - hit.start + 1)
        else:
            contexts.setdefault(hit.rule.context, []).append(hit.start)
    if not signals:
        return _NOTHING, tokens, covered is not None
    if "notjoke" in contexts:  # "это не шутка": nothing is read as a joke
        contexts.pop("joke", None)
    # Hits come in order of their first token; any-order rules can start a little earlier.
    for positions in contexts.values():
        positions.sort()

    findings: dict[Rule, _Finding] = {}
    cancelled = covered is not None  # an idiom, a game or a song explained something away
    for hit in signals:
        previous = findings.get(hit.rule)
        if previous is not None and previous.level >= _highest(hit.rule):
            continue  # a long message repeating one phrase costs no more than one phrase
        finding = _read(hit, covered, quoted, contexts)
        if finding is None:
            cancelled = True
        elif previous is None or finding.level > previous.level:
            findings[hit.rule] = finding
    return _decide(list(findings.values())), tokens, cancelled


def assess_many(texts: Iterable[str], *, second_opinion: bool | None = None) -> list[Assessment]:
    """``assess`` for each text, in order (a convenience for batch jobs and benchmarks)."""
    return [assess(text, second_opinion=second_opinion) for text in texts]


def model_priority(text: str, model: Model | None = None) -> Priority:
    """The learned model's decision alone (for evaluation: the bot never uses it alone).

    Read as if the rules had found nothing: the thresholds for messages with no rule signal
    and the shortest-message gate (``_model_decision``). ``model``: as in ``assess``.
    """
    model = model or load_model()
    tokens, _ = _split_quotes(tokenize(text))
    if model is None or not tokens:
        return Priority.NORMAL
    return _model_decision(model, tokens, Priority.NORMAL, hinted=False)[0]


def _model_decision(
    model: Model, tokens: list[str], rules: Priority, *, hinted: bool
) -> tuple[Priority, str]:
    """What the model makes of a message the rules put at ``rules`` (below URGENT).

    The thresholds depend on what the rules found, each chosen on out-of-writer predictions
    (the trainer): HIGH by the rules (``flagged_threshold``: may the ``now`` head, trained to
    tell urgent from high among messages that are one or the other, make it URGENT?),
    NORMAL with weak hints (``hinted``: the ``hinted_*`` thresholds), or nothing at all
    (``threshold`` and ``flag_threshold``). URGENT when the urgent head passes its
    threshold and cross-validation allowed it to decide (``urgent_allowed``, else HIGH);
    HIGH when the flag head (urgent or high) passes its threshold. A message shorter than
    ``min_words`` words carries too little for the weaker calls: with no rule signal the
    flag head does not raise it ("сообщение 1"), with weak hints the urgent head makes it
    HIGH, not URGENT ("мне страшно": the student is asked whether they are safe).
    """
    short = len(tokens) < model.min_words
    if rules is Priority.HIGH:
        urgent_threshold, flag_threshold = model.flagged_threshold, 2.0
    elif hinted:
        urgent_threshold, flag_threshold = model.hinted_threshold, model.hinted_flag_threshold
    else:
        urgent_threshold = model.threshold
        flag_threshold = 2.0 if short else model.flag_threshold
    heads = model.head_probabilities(tokens)
    # Among risks the rules found, the question is "now or this hour": the now head's.
    p_urgent = heads.get("now", heads["urgent"]) if rules is Priority.HIGH else heads["urgent"]
    if p_urgent >= urgent_threshold:
        if model.urgent_allowed and not (hinted and short):
            return Priority.URGENT, f"model: urgent wording (p={p_urgent:.2f})"
        return Priority.HIGH, f"model: urgent-like wording (p={p_urgent:.2f})"
    p_flag = heads.get("flag", 0.0)
    if p_flag >= flag_threshold:
        return Priority.HIGH, f"model: risk wording (p={p_flag:.2f})"
    return Priority.NORMAL, ""


def _second_opinion(
    decided: Assessment, tokens: list[str], model: Model | None = None
) -> Assessment:
    """Raise a message the rules left below URGENT when the learned model says so.

    Only called when the rules stopped short of URGENT and cancelled nothing as an idiom,
    a game or a song: their cancellations veto the model. ``_model_decision`` says how far
    it raises; cross-validation (tools/train_triage_model) set the thresholds and whether the model
    may make a message URGENT at all. The category
    stays the rules' when they named one, else it is the model's. The signal carries a
    probability, never message text.
    """
    model = model or load_model()
    if model is None:
        return decided
    priority, signal = _model_decision(
        model, tokens, decided.priority, hinted=bool(decided.signals)
    )
    if PRIORITY_RANK[priority] >= PRIORITY_RANK[decided.priority]:
        return decided
    category = (
        decided.category if decided.category is not Category.OTHER else model.category(tokens)
    )
    signals = (signal, *decided.signals)[:_MAX_SIGNALS]
    return Assessment(priority, category, signals)


def _highest(rule: Rule) -> Level:
    return Level.URGENT if rule.now else rule.level


def _split_quotes(tokens: list[str]) -> tuple[list[str], list[bool]]:
    """Drop quotation marks, remembering which words stood inside a closed quotation."""
    if QUOTE not in tokens:
        return tokens, [False] * len(tokens)
    words: list[str] = []
    quoted: list[bool] = []
    inside = False
    opened_at = 0
    for token in tokens:
        if token == QUOTE:
            inside = not inside
            opened_at = len(words)
            continue
        words.append(token)
        quoted.append(inside)
    if inside:  # an unclosed quotation mark quotes nothing
        quoted[opened_at:] = [False] * (len(quoted) - opened_at)
    return words, quoted


def _near(positions: list[int] | None, hit: Hit, reach: int) -> bool:
    if not positions:
        return False
    index = bisect_left(positions, hit.start - reach)
    return index < len(positions) and positions[index] <= hit.end + reach


def _happening(hit: Hit, contexts: dict[str, list[int]]) -> bool:
    """A beating is now or imminent: "сейчас" nearer than any past marker ("кечээ сабап
    кетти, азыр ооруканадан чыктым" was yesterday), or "сегодня"/"после уроков" with no
    past marker near."""
    past = _distance(contexts.get("past"), hit)
    now = _distance(contexts.get("now"), hit)
    if now is not None and now <= _NOW_REACH and (past is None or now < past):
        # "кішкентайымда әкем ұратын, қазір ұрмайды", "в детстве бил, сейчас нет": a past
        # marker before the beating and "now" only after it is then and now, not now.
        past_before = _near(
            contexts.get("past"), Hit(hit.rule, hit.start - _NOW_REACH, hit.start - 1), 0
        )
        now_before = _near(contexts.get("now"), Hit(hit.rule, hit.start - _NOW_REACH, hit.end), 0)
        return now_before or not past_before
    if _near(contexts.get("soon"), hit, _NOW_REACH):
        return past is None or past > _NOW_REACH
    return False


def _distance(positions: list[int] | None, hit: Hit) -> int | None:
    """Tokens between ``hit`` and the nearest of ``positions`` (0 inside it), or None."""
    if not positions:
        return None
    index = bisect_left(positions, hit.start)
    best: int | None = None
    for position in positions[max(0, index - 1) : index + 2]:
        if position < hit.start:
            gap = hit.start - position
        elif position > hit.end:
            gap = position - hit.end
        else:
            gap = 0
        best = gap if best is None else min(best, gap)
    return best


def _read(
    hit: Hit, covered: list[bool] | None, quoted: list[bool], contexts: dict[str, list[int]]
) -> _Finding | None:
    """One signal hit in its surroundings, or None when an idiom or context cancels it."""
    rule = hit.rule
    span = slice(hit.start, hit.end + 1)
    if covered is not None and any(covered[span]):
        return None
    if rule.fiction and (
        _near(contexts.get("game"), hit, _FICTION_REACH)
        or _near(contexts.get("study"), hit, _FICTION_REACH)
        or _near(contexts.get("joke"), hit, _FICTION_REACH)
    ):
        return None
    if ("song" in contexts or "joke" in contexts) and all(quoted[span]):
        return None  # a quoted line of a song, or a quoted joke ("өлгүм келет" деп тамаша)
    for name in rule.unless:
        if _near(contexts.get(name), hit, _FICTION_REACH):
            return None
    category = rule.category or Category.OTHER  # signals always carry one (patterns.signal)
    if rule.now and rule.level < Level.URGENT and _happening(hit, contexts):
        return _Finding(category, Level.URGENT, rule.label, rule.weak, " + now")
    if category is Category.VIOLENCE and rule.level is Level.HIGH:
        # Who hits decides the category: a relative means home, schoolmates mean bullying.
        if _near(contexts.get("family"), hit, _COMPANY_REACH):
            category = Category.HOME_ABUSE
        elif _near(contexts.get("school"), hit, _COMPANY_REACH):
            category = Category.BULLYING
    return _Finding(category, rule.level, rule.label, rule.weak)


def _decide(findings: list[_Finding]) -> Assessment:
    if not findings:
        return _NOTHING
    weak_labels: dict[Category, set[str]] = {}
    weak_signs: dict[Category, set[str]] = {}
    for finding in findings:
        if finding.weak:
            weak_labels.setdefault(finding.category, set()).add(finding.label)
            weak_signs.setdefault(finding.category, set()).add(_SIGN[finding.label])
    for category, labels in weak_labels.items():
        # Two different signs: "кош болгула" is one goodbye however many rules read it.
        if len(weak_signs[category]) >= 2:
            level = _COMBINED_LEVEL.get(category, Level.HIGH)
            findings.append(_Finding(category, level, " + ".join(sorted(labels))))
    # When the message also speaks of bullying, high violence is read as part of it (same
    # priority, clearer category for the psychologist).
    if any(f.category is Category.BULLYING for f in findings):
        findings = [
            _Finding(Category.BULLYING, f.level, f.label, f.weak, f.note)
            if f.category is Category.VIOLENCE and f.level is Level.HIGH
            else f
            for f in findings
        ]
    findings.sort(key=_Finding.sort_key)
    best = findings[0]
    if best.level is Level.HINT:
        # Weak hints alone ("таблетки") name no category: most such messages are harmless.
        category = Category.OTHER
    else:
        category = best.category
    signals = tuple(dict.fromkeys(f.describe() for f in findings))[:_MAX_SIGNALS]
    return Assessment(_PRIORITY.get(best.level, Priority.NORMAL), category, signals)
