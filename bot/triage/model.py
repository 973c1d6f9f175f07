"""A learned second opinion: a character n-gram logistic regression, scored in pure Python.

The rules in ``lexicon*`` find what they were written for; on wordings nobody wrote a rule
for ("жашагым жок", "надоело существовать", "сижу на подоконнике ноги свесила") they stay
silent. This model reads the same skeleton tokens (``normalize.tokenize``) as character
n-grams of 2 to 5 letters inside each word padded with a space on both sides (so word starts
and ends are features, as in scikit-learn's ``char_wb``), plus each whole word and each pair
of neighbouring words ("не хочу", "мени урат": word order and negation), hashed with CRC-32
into 2**18 buckets. A message's features are its n-gram counts divided by the square root of its
n-gram total (a word-additive stand-in for L2 normalisation), so each word's contribution
can be cached: scoring is a dict lookup per word, a sum and a sigmoid.

Four heads share the features: ``urgent`` (is the message urgent?), ``flag`` (is it urgent
or high: should someone read it within the hour?), ``now`` (trained only on urgent and high
messages: is this risk happening now, or real but not this minute? read for messages the
rules made HIGH) and ``category`` (which urgent category, for when the rules name none).
Weights and thresholds come from ``tools/train_triage_model`` (scikit-learn, development
only, thresholds chosen on out-of-writer predictions) and live quantised in ``model.json``
beside this module. What the bot lets the model decide is the policy in ``__init__``.
Feature extraction here is the single definition used by both training and scoring.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zlib import crc32

from bot.domain import Category

__all__ = [
    "MODEL_PATH",
    "Model",
    "ModelOpinion",
    "load_model",
    "message_features",
    "word_buckets",
]

MODEL_PATH = Path(__file__).with_name("model.json")
BUCKET_BITS = 18
MIN_N = 2
MAX_N = 5
FEATURES = ["char 2-5 in words", "whole words", "word pairs"]
_MASK = (1 << BUCKET_BITS) - 1
_WORD_CACHE = 65_536  # distinct words whose scores are remembered


@lru_cache(maxsize=_WORD_CACHE)
def word_buckets(word: str) -> tuple[int, ...]:
    """Hashed n-gram buckets of one skeleton token (with repeats: they are counts), then the
    bucket of the whole word."""
    padded = f" {word} "
    size = len(padded)
    return (
        *(
            crc32(padded[i : i + n].encode()) & _MASK
            for n in range(MIN_N, MAX_N + 1)
            for i in range(size - n + 1)
        ),
        whole_word_bucket(word),
    )


def whole_word_bucket(word: str) -> int:
    return crc32(("\x01" + word).encode()) & _MASK


def pair_bucket(first: str, second: str) -> int:
    """The bucket of two neighbouring words ("не хочу", "мени урат", "келбейт экен")."""
    return crc32(f"\x02{first} {second}".encode()) & _MASK


def message_features(tokens: list[str]) -> dict[int, float]:
    """Feature vector of a message as {bucket: value} (used by training and by tests):
    character n-grams and whole words of each token, and pairs of neighbouring tokens."""
    counts: dict[int, int] = {}
    total = 0
    for token in tokens:
        for bucket in word_buckets(token):
            counts[bucket] = counts.get(bucket, 0) + 1
            total += 1
    for first, second in zip(tokens, tokens[1:], strict=False):
        bucket = pair_bucket(first, second)
        counts[bucket] = counts.get(bucket, 0) + 1
        total += 1
    if not total:
        return {}
    norm = 1 / math.sqrt(total)
    return {bucket: count * norm for bucket, count in counts.items()}


@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """Urgent probability and the most likely urgent category (if the message is urgent)."""

    p_urgent: float
    category: Category


class Model:
    """Quantised weights of the heads; scoring is pure Python and deterministic."""

    def __init__(self, data: dict[str, object]) -> None:
        if data.get("hash") != "crc32" or data.get("bucket_bits") != BUCKET_BITS:
            raise ValueError("model.json was built for another feature space")
        if data.get("ngram") != [MIN_N, MAX_N]:
            raise ValueError("model.json was built for other n-gram sizes")
        if data.get("features") != FEATURES:
            raise ValueError("model.json was built for other features")
        self.threshold = float(data["threshold"])  # type: ignore[arg-type]
        # May the urgent head make a message URGENT, or only HIGH? Cross-validation decides.
        self.urgent_allowed = bool(data.get("urgent_allowed", False))
        # The flag head (urgent or high) raises a message to HIGH at or above this.
        self.flag_threshold = float(data.get("flag_threshold", 2.0))  # type: ignore[arg-type]
        self.categories = tuple(Category(name) for name in data["categories"])  # type: ignore[attr-defined]
        scale = float(data["scale"])  # type: ignore[arg-type]
        self.bias = float(data["bias"])  # type: ignore[arg-type]
        names = data.get("heads", ["urgent"])
        biases = data.get("head_bias", [data["bias"]])
        if not isinstance(names, list) or not isinstance(biases, list):
            raise ValueError("model.json: heads and head_bias must be lists")
        self.head_names: tuple[str, ...] = tuple(names)
        self.head_bias = tuple(float(b) for b in biases)
        # The urgent threshold for messages the rules made HIGH: among risks, the urgent head
        # separates "now" from "this hour" (2.0: off).
        self.flagged_threshold = float(data.get("flagged_threshold", 2.0))  # type: ignore[arg-type]
        # Thresholds for messages in which the rules found only weak hints (NORMAL with
        # signals): such words ("таблетки", "прощайте") sit in many innocent messages too.
        self.hinted_threshold = float(data.get("hinted_threshold", self.threshold))  # type: ignore[arg-type]
        self.hinted_flag_threshold = float(
            data.get("hinted_flag_threshold", self.flag_threshold)  # type: ignore[arg-type]
        )
        # With no rule signal at all, the model raises no message shorter than this many
        # words: "сообщение 1", "помогите с домашкой" carry too little to judge.
        self.min_words = int(data.get("min_words", 1))  # type: ignore[call-overload]
        self.category_bias = tuple(float(b) for b in data["category_bias"])  # type: ignore[attr-defined]
        heads = len(self.head_names)
        width = heads + len(self.categories)
        buckets: list[int] = []
        position = 0
        for delta in data["buckets"]:  # type: ignore[attr-defined]
            position += int(delta)
            buckets.append(position)
        flat: list[int] = data["weights"]  # type: ignore[assignment]
        if len(flat) != width * len(buckets):
            raise ValueError("model.json weights do not match its buckets")
        self._zero = (0.0,) * heads
        self.heads: dict[int, tuple[float, ...]] = {}  # bucket -> one weight per head
        self.category_weights: dict[int, tuple[float, ...]] = {}
        for k, bucket in enumerate(buckets):
            row = flat[k * width : (k + 1) * width]
            if any(row[:heads]):
                self.heads[bucket] = tuple(q * scale for q in row[:heads])
            if any(row[heads:]):
                self.category_weights[bucket] = tuple(q * scale for q in row[heads:])
        self._word_cache: dict[str, tuple[int, tuple[float, ...]]] = {}

    def _word(self, word: str) -> tuple[int, tuple[float, ...]]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        # Not word_buckets(): its cache would only duplicate this one on the hot path.
        padded = f" {word} "
        size = len(padded)
        get = self.heads.get
        count = 0
        sums = list(self._zero)
        for n in range(MIN_N, MAX_N + 1):
            for i in range(size - n + 1):
                weights = get(crc32(padded[i : i + n].encode()) & _MASK)
                if weights is not None:
                    for k, weight in enumerate(weights):
                        sums[k] += weight
                count += 1
        weights = get(whole_word_bucket(word))
        if weights is not None:
            for k, weight in enumerate(weights):
                sums[k] += weight
        count += 1
        if len(self._word_cache) >= _WORD_CACHE:
            self._word_cache.clear()  # bounded memory; the common words come back at once
        result = (count, tuple(sums))
        self._word_cache[word] = result
        return result

    def head_probabilities(self, tokens: list[str]) -> dict[str, float]:
        """Each head's probability for skeleton ``tokens`` (cached per word: a few lookups)."""
        count = 0
        sums = list(self._zero)
        word = self._word
        for token in tokens:
            n, values = word(token)
            count += n
            for k, value in enumerate(values):
                sums[k] += value
        get = self.heads.get
        for first, second in zip(tokens, tokens[1:], strict=False):
            count += 1
            weights = get(pair_bucket(first, second))
            if weights is not None:
                for k, weight in enumerate(weights):
                    sums[k] += weight
        norm = 1 / math.sqrt(count) if count else 0.0
        return {
            name: _sigmoid(bias + total * norm)
            for name, bias, total in zip(self.head_names, self.head_bias, sums, strict=True)
        }

    def probabilities(self, tokens: list[str]) -> tuple[float, float]:
        """(urgent, urgent-or-high) probabilities; a model without a flag head gives 0."""
        heads = self.head_probabilities(tokens)
        return heads["urgent"], heads.get("flag", 0.0)

    def p_urgent(self, tokens: list[str]) -> float:
        """Urgent probability of skeleton ``tokens``."""
        return self.probabilities(tokens)[0]

    def category(self, tokens: list[str]) -> Category:
        """The most likely urgent category (computed only for messages the model raises)."""
        logits = list(self.category_bias)
        for bucket, value in message_features(tokens).items():
            row = self.category_weights.get(bucket)
            if row is not None:
                for k, weight in enumerate(row):
                    logits[k] += weight * value
        return self.categories[max(range(len(logits)), key=logits.__getitem__)]

    def score(self, tokens: list[str]) -> ModelOpinion:
        """Urgent probability of skeleton ``tokens`` and the model's urgent category."""
        return ModelOpinion(self.p_urgent(tokens), self.category(tokens))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z > -700 else 0.0


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The shipped model, or None when ``model.json`` is absent (the rules work alone)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Model(json.loads(text))
