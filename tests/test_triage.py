"""Risk triage: the evaluation set, agglutinative stems, hard negatives and bad input."""

from __future__ import annotations

import json
import random
import re
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Category, Priority
from bot.triage import Assessment, assess, assess_many
from bot.triage.lexicon import RULES
from bot.triage.model import MODEL_PATH, Model, load_model, word_buckets
from bot.triage.normalize import tokenize
from bot.triage.patterns import Kind, compile_slots
from bot.triage.scoring import rules_reading

EVAL_SET = Path(__file__).with_name("triage_eval.jsonl")
# Written blind before the rule changes of the lexicon_ideas commit, then tuned on: part of
# the evaluation set from then on.
HOLDOUT = Path(__file__).with_name("triage_holdout.jsonl")
# Written blind after those changes and never tuned on: the honest figure for new wordings.
HOLDOUT2 = Path(__file__).with_name("triage_holdout2.jsonl")
# Written blind after the learned second opinion was trained, committed before it was scored.
HOLDOUT3 = Path(__file__).with_name("triage_holdout3.jsonl")
CORPUS_DIR = Path(__file__).with_name("triage_data")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
# Latin letters that look like Cyrillic ones (the ones the issue names, and a few more).
HOMOGLYPHS = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y"}
STAND_INS = str.maketrans("өүңқғұіәһ", "оункгуиах")


def _load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


ROWS = _load(EVAL_SET) + _load(HOLDOUT)


# --- the evaluation set ------------------------------------------------------------------


def test_eval_set_is_big_and_spread_over_the_languages() -> None:
    languages = Counter(row["language"] for row in ROWS)
    assert len(ROWS) >= 300
    assert set(languages) == {"ky", "kk", "ru", "mixed"}
    for language in ("ky", "kk", "ru"):
        assert languages[language] >= len(ROWS) / 4, languages
    for row in ROWS:
        assert Priority(row["priority"]) and Category(row["category"])
    texts = [row["text"] for row in ROWS]
    assert any(len(text) == 4096 for text in texts)
    assert any(text and not text.strip() for text in texts)
    assert any(ch in text for text in texts for ch in ZERO_WIDTH)
    assert any(text and not re.search(r"\w", text) and text.strip() for text in texts)


def test_urgent_recall_and_precision_on_the_eval_set() -> None:
    found = assess_many(row["text"] for row in ROWS)
    expected = [row["priority"] == Priority.URGENT for row in ROWS]
    got = [a.priority is Priority.URGENT for a in found]
    true_positives = sum(e and g for e, g in zip(expected, got, strict=True))
    recall = true_positives / sum(expected)
    precision = true_positives / sum(got)
    exact = sum(a.priority == row["priority"] for a, row in zip(found, ROWS, strict=True))
    category = sum(a.category == row["category"] for a, row in zip(found, ROWS, strict=True))
    print(
        f"\ntriage eval: {len(ROWS)} messages, urgent recall {recall:.3f}, "
        f"urgent precision {precision:.3f}, priority accuracy {exact / len(ROWS):.3f}, "
        f"category accuracy {category / len(ROWS):.3f}"
    )
    assert recall >= 0.95
    assert precision >= 0.80
    # Not asked for by the issue, but a drop here is a regression worth seeing.
    assert exact / len(ROWS) >= 0.90
    assert category / len(ROWS) >= 0.85


def _urgent_figures(
    rows: list[dict[str, str]], second_opinion: bool = False
) -> tuple[float, float]:
    found = assess_many((row["text"] for row in rows), second_opinion=second_opinion)
    pairs = [
        (row["priority"] == Priority.URGENT, a.priority is Priority.URGENT)
        for row, a in zip(rows, found, strict=True)
    ]
    true_positives = sum(e and g for e, g in pairs)
    expected = sum(e for e, _ in pairs)
    predicted = sum(g for _, g in pairs)
    recall = true_positives / expected if expected else float("nan")
    precision = true_positives / predicted if predicted else float("nan")
    return recall, precision


def test_blind_holdout2_is_a_regression_guard() -> None:
    """Messages written after the last rule change and, until issue 13, never tuned on.

    Issue 13 made it a development set (the model trains on it; rules were not written for
    its rows): what is blind now is tests/triage_data/holdout.jsonl, which only the lead
    measures, with ``python -m benchmarks.triage_confusion``.

    Measured when it was first scored (commit after 058c91d): urgent recall 0.466 (27/58),
    precision 0.871 (27/31); the engine before the lexicon_ideas commit scored 0.328 and
    0.826. The thresholds sit a little below the measured level: this guards against
    regressions, it does not claim the lexicon generalises well. Do not tune on this file;
    write a new blind set instead and fold this one into the evaluation set.
    """
    rows = _load(HOLDOUT2)
    assert len(rows) >= 120
    recall, precision = _urgent_figures(rows)
    lines = [
        f"\nblind holdout2: {len(rows)} messages, urgent recall {recall:.3f}, "
        f"precision {precision:.3f}"
    ]
    for language in ("ky", "kk", "ru", "mixed"):
        part = [row for row in rows if row["language"] == language]
        r, p = _urgent_figures(part)
        lines.append(f"  {language:5} {len(part):3} messages  recall {r:.3f}  precision {p:.3f}")
    print("\n".join(lines))
    assert recall >= 0.43
    assert precision >= 0.80


def test_blind_holdout3_is_a_regression_guard() -> None:
    """Written after the model was trained and committed (2f31d39) before it was scored.

    Measured then, rules alone: urgent recall 0.650 (26/40), precision 0.897 (26/29).
    """
    rows = _load(HOLDOUT3)
    assert len(rows) >= 90
    for language in ("ky", "kk", "ru"):
        assert sum(row["language"] == language for row in rows) >= 30
    recall, precision = _urgent_figures(rows)
    print(f"\nblind holdout3: urgent recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.60
    assert precision >= 0.80


# --- the learned second opinion (bot/triage/model.py, on by default) ----------------------
# Since issue 13 the model is trained on every development set (these files and
# tests/triage_data/corpus*.jsonl) and may raise a message to URGENT where cross-validation
# showed it pays (``urgent_allowed`` in model.json); see bot/triage/__init__.py.

_MODEL_SIGNAL = re.compile(r"^model: [a-z -]+ \(p=[01]\.\d\d\)$")


def test_the_model_file_loads_and_is_small() -> None:
    model = load_model()
    assert model is not None
    assert MODEL_PATH.stat().st_size < 1_000_000  # three heads over 2**18 buckets
    assert 0.5 <= model.threshold < 1
    assert 0 < model.flag_threshold < 1
    assert set(model.categories) <= set(Category)


def test_the_model_scores_deterministically() -> None:
    # CRC-32, not Python's salted hash(): the buckets are the same in every process.
    assert word_buckets("ол")[:3] == (
        zlib.crc32(" о".encode()) & 0x3FFFF,
        zlib.crc32("ол".encode()) & 0x3FFFF,
        zlib.crc32("л ".encode()) & 0x3FFFF,
    )
    model = load_model()
    assert model is not None
    tokens = ["жашагим", "жок", "такир"]
    first = model.score(tokens)
    assert model.score(tokens) == first
    fresh = Model(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    assert fresh.score(tokens) == first
    assert fresh.head_probabilities(tokens) == model.head_probabilities(tokens)


@pytest.mark.parametrize(
    "text",
    ["жашагым жок такыр", "все было бы проще если бы я не родилась"],
)
def test_the_second_opinion_raises_a_missed_wording(text: str) -> None:
    assert assess(text, second_opinion=False).priority is Priority.NORMAL
    found = assess(text)
    assert found.priority is not Priority.NORMAL
    assert found.category is Category.SUICIDE_SELF_HARM
    assert _MODEL_SIGNAL.fullmatch(found.signals[0]), found.signals
    assert all(word not in signal for signal in found.signals for word in text.split())


def test_the_model_decides_with_the_thresholds_of_what_the_rules_found() -> None:
    """Each message the rules leave NORMAL is raised exactly as model.json says: thresholds
    for messages with no rule signal or with weak hints; under ``min_words`` words, no flag
    head without a rule signal, and HIGH rather than URGENT with weak hints."""
    model = load_model()
    assert model is not None
    raised = 0
    # every development set (never tests/triage_data/holdout.jsonl, the blind one)
    corpus = sorted(CORPUS_DIR.glob("corpus*.jsonl"))
    rows = ROWS + _load(HOLDOUT2) + _load(HOLDOUT3) + [r for p in corpus for r in _load(p)]
    for row in rows:
        rules_found, tokens, cancelled = rules_reading(row["text"])
        if cancelled or not tokens or rules_found.priority is not Priority.NORMAL:
            continue
        p_urgent, p_flag = model.probabilities(tokens)
        shipped = assess(row["text"]).priority
        short = len(tokens) < model.min_words
        if rules_found.signals:
            urgent_at, flag_at = model.hinted_threshold, model.hinted_flag_threshold
        else:
            urgent_at = model.threshold
            flag_at = 2.0 if short else model.flag_threshold
        if p_urgent >= urgent_at:
            raised += 1
            urgent = model.urgent_allowed and not (short and rules_found.signals)
            assert shipped is (Priority.URGENT if urgent else Priority.HIGH), row["text"]
        elif p_flag >= flag_at:
            assert shipped is Priority.HIGH, row["text"]
        else:
            assert shipped is Priority.NORMAL, row["text"]
    assert raised > 0


def test_the_now_head_decides_for_what_the_rules_made_high() -> None:
    """A message the rules made HIGH is URGENT exactly when the now head (trained on urgent
    and high messages only: happening now, or real but not this minute?) passes
    ``flagged_threshold``; the urgent head is not read for it."""
    model = load_model()
    assert model is not None
    assert "now" in model.head_names
    rows = [r for p in sorted(CORPUS_DIR.glob("corpus*.jsonl")) for r in _load(p)]
    raised = kept = 0
    for row in rows:
        rules_found, tokens, cancelled = rules_reading(row["text"])
        if cancelled or not tokens or rules_found.priority is not Priority.HIGH:
            continue
        heads = model.head_probabilities(tokens)
        shipped = assess(row["text"]).priority
        if model.urgent_allowed and heads["now"] >= model.flagged_threshold:
            raised += 1
            assert shipped is Priority.URGENT, row["text"]
        else:
            kept += 1
            assert shipped is Priority.HIGH, row["text"]
    assert raised > 0 and kept > 0


EVERYDAY = [
    "сообщение 1", "второе сообщение", "помогите с домашкой", "математикадан жардам бергилечи",
    "сабаққа көмектесіңдерші", "привет", "салам", "сәлем", "как дела", "тест",
    "привет, у меня вопрос",
]  # fmt: skip


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_messages_are_not_raised_by_the_model(text: str) -> None:
    # Issue 13, second round: "сообщение 1" was HIGH suicide through the model's flag head,
    # so the bot asked a child who wrote it whether they were in danger.
    assert assess(text).priority is Priority.NORMAL, assess(text)


@pytest.mark.parametrize(
    "text",
    ["умираю от смеха", "күлүп өлдүм", "күліп өлдім", "убить время", "кулуп олдум",
     "я убью тебя в доте", "кс те мени өлтүрүп салышты", "песня «хочу умереть молодым» классная"],
)  # fmt: skip
def test_idiom_game_and_song_cancellations_veto_the_model(text: str) -> None:
    assert assess(text, second_opinion=True).priority is Priority.NORMAL


def test_second_opinion_keeps_the_eval_set_requirements() -> None:
    recall, precision = _urgent_figures(ROWS, second_opinion=True)
    assert recall >= 0.95
    assert precision >= 0.80


def test_second_opinion_is_fast() -> None:
    texts = [row["text"] for row in ROWS if len(row["text"]) < 300]
    assess_many(texts, second_opinion=True)  # warm the caches as a running bot has them
    start = time.process_time()
    assess_many(texts, second_opinion=True)
    assert len(texts) / (time.process_time() - start) >= 10_000
    text = _random_text(11, 4096)
    assess(text, second_opinion=True)
    best = min(_cpu_seconds_model(text) for _ in range(5))
    assert best < 0.010, f"{best * 1000:.1f} ms"


def _cpu_seconds_model(text: str) -> float:
    start = time.process_time()
    assess(text, second_opinion=True)
    return time.process_time() - start


# --- agglutinative stems and the spellings students use ------------------------------------

URGENT_SUICIDE = [
    # Kyrgyz: "I want to die", "I'll kill myself", "I'll hang myself", in several forms
    "өлгүм келет", "өлгүм келип жатат", "өлгүсү келет экен", "өзүмдү өлтүрөм",
    "өзүмдү өлтүргүм келет", "өзүмдү өлтүрүп алам", "асылып алам", "асылып алайын",
    "жашагым келбейт",
    # Kazakh
    "өлгім келеді", "өлгім келіп тұр", "өзімді өлтіремін", "өзімді өлтіргім келеді",
    "асылып қаламын", "асылып өлемін", "өмір сүргім келмейді",
    # Russian
    "не хочу жить", "жить не хочется", "покончу с собой", "хочу покончить с собой",
    "порежу себя", "режу себе руки", "хочу умереть", "умереть хочу",
]  # fmt: skip


@pytest.mark.parametrize("text", URGENT_SUICIDE)
def test_agglutinative_and_inflected_forms_are_urgent(text: str) -> None:
    found = assess(text)
    assert found.priority is Priority.URGENT, found
    assert found.category is Category.SUICIDE_SELF_HARM


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("атам мени күнүгө сабайт", Category.HOME_ABUSE),
        ("әкем мені күнде ұрады", Category.HOME_ABUSE),
        ("отчим бьёт меня", Category.HOME_ABUSE),
        ("сүрөттөрүмдү таратам деп коркутат", Category.ONLINE_EXTORTION),
        ("суреттерімді интернетке саламын дейді", Category.ONLINE_EXTORTION),
        ("угрожает слить мои фото", Category.ONLINE_EXTORTION),
        ("досторум баңгизат сунушташат", Category.SUBSTANCES),
        ("класстагылар акча талап кылышат бербесем урабыз дешет", Category.BULLYING),
    ],
)
def test_high_priority_harm(text: str, category: Category) -> None:
    found = assess(text)
    assert (found.priority, found.category) == (Priority.HIGH, category), found


@pytest.mark.parametrize(
    ("high", "urgent"),
    [
        ("атам апамды урат", "атам азыр апамды урат"),
        ("әкем анамды ұрады", "әкем қазір анамды ұрады"),
        ("отец бьёт маму", "отец сейчас бьёт маму"),
    ],
)
def test_now_makes_abuse_at_home_urgent(high: str, urgent: str) -> None:
    assert assess(high).priority is Priority.HIGH
    assert assess(urgent).priority is Priority.URGENT


@pytest.mark.parametrize(
    ("variant", "clean"),
    [
        ("олгум келет", "өлгүм келет"),  # Russian-keyboard stand-ins
        ("озимди олтиремин", "өзімді өлтіремін"),
        ("асылып каламын", "асылып қаламын"),
        ("olgum kelet", "өлгүм келет"),  # Kyrgyz in Latin letters
        ("özimdi öltiremin", "өзімді өлтіремін"),  # Kazakh Latin, 2021 letters
        ("ózimdi óltiremin", "өзімді өлтіремін"),  # Kazakh Latin, 2018 acute letters
        ("asylyp qalamyn", "асылып қаламын"),
        ("ya hochu umeret", "я хочу умереть"),  # informal Latin Russian
        ("ne hochu zhit", "не хочу жить"),
        ("pokonchu s soboj", "покончу с собой"),
        ("ХОЧУ УМЕРЕТЬ", "хочу умереть"),
        ("хочууу умеретььь", "хочу умереть"),  # stretched letters
        ("өлгүүүүм келеееет", "өлгүм келет"),
        ("хочу умереть!!!", "хочу умереть"),
    ],
)
def test_spellings_meet_the_clean_form(variant: str, clean: str) -> None:
    assert assess(clean).priority is Priority.URGENT
    assert assess(variant) == assess(clean)


@pytest.mark.parametrize("clean", [*URGENT_SUICIDE, "мени азыр уруп жатышат"])
@pytest.mark.parametrize("mark", ZERO_WIDTH)
def test_zero_width_characters_inside_words_change_nothing(clean: str, mark: str) -> None:
    spread = " ".join(mark.join(word) for word in clean.split())
    assert assess(spread) == assess(clean)


@pytest.mark.parametrize("clean", URGENT_SUICIDE)
def test_latin_homoglyphs_inside_cyrillic_words_change_nothing(clean: str) -> None:
    disguised = "".join(HOMOGLYPHS.get(ch, ch) for ch in clean)
    assert assess(disguised) == assess(clean)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_disguises_change_nothing(data: st.DataObject) -> None:
    clean = data.draw(st.sampled_from([*URGENT_SUICIDE, "агайым мени зордуктады"]))
    disguised = []
    for ch in clean:
        if ch in HOMOGLYPHS and data.draw(st.booleans()):
            ch = HOMOGLYPHS[ch]
        disguised.append(ch)
        if ch.isalpha() and data.draw(st.booleans()):
            disguised.append(data.draw(st.sampled_from(ZERO_WIDTH)))
    text = "".join(disguised)
    if data.draw(st.booleans()):
        text = text.translate(STAND_INS)
    assert assess(text) == assess(clean)


# --- hard negatives -----------------------------------------------------------------------

HARD_NEGATIVES = [
    "умираю от смеха", "чуть не умерла со смеху", "чем убить время?", "меня убили в кс",
    "я убью тебя в доте", "эта домашка меня убьёт", "брат бьёт мяч об стену",
    "реферат про вторую мировую войну, сколько людей убили", "не хочу умирать",
    "күлүп өлдүм", "кулуп олдум", "күліп өлдім", "külip öldim", "өлгүм келбейт",
    "өлгім келмейді", "кс те мени өлтүрүп салышты", "ксте мені өлтіріп тастады",
    "апам мени урушту", "анам мені ұрсты", "футболдо бизди уруп кетишти",
    "песня «хочу умереть молодым» классная", "ырдагы «өлгүм келет сенсиз» деген сап жакшы",
    "әндегі «өлгім келеді» деген жолы ұнайды", "таблетки от головы не помогают",
    # "был/была/были" (was) folded into "бил/била/били" (beat) read a school day as a beating
    "сегодня в школе была контрольная по математике", "вчера в школе был концерт",
    "мы были в школе до вечера",
]  # fmt: skip


def test_was_is_not_beat() -> None:
    assert tokenize("был была было были") == ["бл"]
    assert tokenize("бил била били") == ["бил", "била", "били"]
    assert assess("меня били в школе сегодня").priority is Priority.URGENT


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_stay_normal(text: str) -> None:
    assert assess(text, second_opinion=False).priority is Priority.NORMAL, assess(text)
    # the model may ask "are you safe?" (HIGH) about a wording like this, never alarm
    assert assess(text).priority is not Priority.URGENT, assess(text)


@pytest.mark.parametrize(
    "text",
    [
        "умираю от смеха, а вообще хочу умереть",  # an idiom cancels only its own words
        "как в фильме, хочу умереть",  # films and games never cancel suicide signals
        "в кс играю каждый день, а жить не хочу",
        "хочу умереть «как в песне»",  # unquoted words are never lyrics
    ],
)
def test_contexts_do_not_hide_real_risk(text: str) -> None:
    assert assess(text).priority is Priority.URGENT


# --- bad input ------------------------------------------------------------------------------


def _random_text(seed: int, length: int) -> str:
    rng = random.Random(seed)
    pools = [
        (0x20, 0x7F), (0x400, 0x500), (0x300, 0x370), (0x2000, 0x2070), (0x1F300, 0x1FAFF),
        (0xFE00, 0xFE10), (0xD800, 0xE000), (0x0, 0x20), (0x10000, 0x110000),
    ]  # fmt: skip
    chars = []
    for _ in range(length):
        low, high = rng.choice(pools)
        chars.append(chr(rng.randrange(low, high)))
    return "".join(chars)


BAD_INPUT = [
    "", " ", "\n\t  \r\n", " " * 4096, "\u200b" * 4096, "😂" * 4096, "🔪🩸" * 2048,
    "а" * 4096, "а" + "\u0301" * 4095, "\x00" * 100, "\ud800 хочу", "💊", "«" * 4096,
    "‮хочу умереть‬", *(_random_text(seed, 4096) for seed in range(5)),
]  # fmt: skip


@pytest.mark.parametrize("text", BAD_INPUT, ids=range(len(BAD_INPUT)))
def test_bad_input_never_crashes(text: str) -> None:
    found = assess(text)
    assert isinstance(found, Assessment)
    assert isinstance(found.priority, Priority) and isinstance(found.category, Category)
    assert all(isinstance(signal, str) for signal in found.signals)


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("", Priority.NORMAL),
        ("   \n\t", Priority.NORMAL),
        ("😂😂😂", Priority.NORMAL),
        ("💊💊💊", Priority.HIGH),
        ("🔪🩸", Priority.URGENT),
        ("🔪🔪🔪🔪🔪", Priority.HIGH),  # one knife repeated is still one signal
        ("хочу умереть 🪢", Priority.URGENT),
    ],
)
def test_emoji_and_empty_messages(text: str, priority: Priority) -> None:
    assert assess(text).priority is priority


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_any_text_gives_an_assessment(text: str) -> None:
    found = assess(text)
    assert isinstance(found.priority, Priority)


def test_a_risk_phrase_at_the_end_of_a_4096_character_message_is_found() -> None:
    filler = "сегодня был обычный день, писали диктант. " * 100
    text = (filler[: 4096 - len(" я хочу умереть")] + " я хочу умереть")[:4096]
    assert len(text) == 4096
    assert assess(text).priority is Priority.URGENT
    flood = ("🔪" * 4000 + " хочу умереть")[:4096]
    assert assess(flood).priority is Priority.URGENT


@pytest.mark.parametrize(
    "text",
    [
        ("сегодня был обычный день, писали диктант. " * 100)[:4096],
        ("хочу умереть " * 400)[:4096],
        ("сейчас меня бьют " * 300)[:4096],
        ("Хочу yмepeть " * 400)[:4096],
        "🔪🩸" * 2048,
        " ".join(["меня бьют хочу умереть отчим трогает выложит фото"] * 80)[:4096],
        _random_text(7, 4096),
    ],
    ids=["prose", "repeated", "now", "homoglyphs", "emoji", "many-rules", "random"],
)
def test_a_4096_character_message_is_fast(text: str) -> None:
    assess(text)  # warm the token cache as a running bot would have it
    best = min(_cpu_seconds(text) for _ in range(5))
    assert best < 0.010, f"{best * 1000:.1f} ms"


def _cpu_seconds(text: str) -> float:
    # CPU time, not wall time: other work on a shared machine must not fail this test.
    start = time.process_time()
    assess(text)
    return time.process_time() - start


# --- what the psychologist sees -----------------------------------------------------------

_LABELS = {rule.label for rule in RULES if rule.kind is Kind.SIGNAL}
_SIGNAL = re.compile(r"^[a-z ]+(?: \(weak\))?: '(?P<label>.+)'(?: \+ now)?$")


def test_signals_are_lexicon_labels_never_message_text() -> None:
    for row in ROWS:
        for signal in assess(row["text"]).signals:
            if _MODEL_SIGNAL.fullmatch(signal):
                continue  # the model's signal: a probability, no text
            match = _SIGNAL.match(signal)
            assert match, signal
            # a combination of weak signals lists their labels joined by " + "
            parts = match["label"].split(" + ")
            assert match["label"] in _LABELS or all(part in _LABELS for part in parts), signal


def test_nothing_matched_is_normal_other_without_signals() -> None:
    assert assess("салам, бул бот кантип иштейт?") == Assessment(
        Priority.NORMAL, Category.OTHER, ()
    )


def test_a_lone_weak_hint_names_no_category_but_is_listed() -> None:
    found = assess("таблетки от головы не помогают", second_opinion=False)
    assert (found.priority, found.category) == (Priority.NORMAL, Category.OTHER)
    assert found.signals == ("suicide (weak): 'таблетки'",)


def test_too_short_prefix_stems_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        compile_slots("өл")
    with pytest.raises(ValueError, match="normalises to"):
        compile_slots("ата-эне кел")
    assert compile_slots("=өл кел")[0].exact == frozenset({"ол"})
