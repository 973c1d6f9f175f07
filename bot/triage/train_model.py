"""Train the learned second opinion and write ``bot/triage/model.json`` (development only).

    pip install -e '.[train]'
    python -m bot.triage.train_model [--check] [--exclude-validation] [--output PATH] [PATH ...]

Trains on the development sets (``DEVELOPMENT_SETS``: the old evaluation and holdout sets and
the corpus tests/triage_data/corpus*.jsonl). The blind holdout tests/triage_data/holdout.jsonl
is never read here: neither the weights, the regularisation nor the thresholds may see it,
or its figures stop being honest. ``--exclude-validation`` leaves out a fixed quarter of the
corpus (by a hash of the text) so its figures can be read as a validation set.

* features: ``model.message_features`` (character 2-5-grams of skeleton tokens, CRC-32
  hashed into 2**18 buckets), the very function the bot scores with;
* heads: logistic regressions for ``urgent`` and ``flag`` (urgent or high), C chosen by
  5-fold stratified cross-validation (log loss), and a multinomial category head over the
  urgent and high rows;
* thresholds, from out-of-fold predictions: the urgent threshold is the lowest at which the
  model alone is urgent-precise at >= ``MODEL_PRECISION``; the model may make messages
  URGENT (``urgent_allowed``) if it then finds at least ``MIN_MODEL_RECALL`` of the urgent
  messages alone and the shipped decision (rules or model) stays >= ``SHIPPED_PRECISION``
  here (see ``choose_urgent`` for why the model is not judged by what it adds to rules
  tuned on the same messages). The flag threshold is the highest keeping urgent-or-high
  recall >= ``FLAG_RECALL`` (and precision >= ``FLAG_PRECISION``) with the rules. A lower
  urgent threshold for flagged messages (HIGH by the rules or the flag head) is chosen the
  same way on top of that, and is 2.0 (off) unless it adds at least ``MIN_GAIN`` recall;
* export: only non-zero weights, quantised to integers with one scale, bucket ids
  delta-encoded. ``--check`` prints the figures without writing the file.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from bot.domain import Priority
from bot.triage.model import BUCKET_BITS, FEATURES, MAX_N, MIN_N, MODEL_PATH, message_features
from bot.triage.normalize import QUOTE, tokenize
from bot.triage.scoring import rules_reading

_TESTS = Path(__file__).resolve().parents[2] / "tests"
OLD_SETS = tuple(
    _TESTS / name
    for name in (
        "triage_eval.jsonl",
        "triage_holdout.jsonl",
        "triage_holdout2.jsonl",
        "triage_holdout3.jsonl",
    )
)
CORPUS_DIR = _TESTS / "triage_data"
BLIND = CORPUS_DIR / "holdout.jsonl"
C_GRID = (10.0, 30.0)
URGENT_PRECISION = 0.90
# The urgent-precision target: the shipped decision (rules or model) must keep it.
SHIPPED_PRECISION = 0.85
MODEL_PRECISION = 0.90
MIN_MODEL_RECALL = 0.50
ADDED_PRECISION = 0.75
FLAG_PRECISION = 0.85
FLAG_RECALL = 0.995
MIN_GAIN = 0.01
LEVELS = 127  # quantisation: weights become integers in [-LEVELS, LEVELS]
PRUNE = 1  # quantised weights this small are dropped (they keep the file under 1 MB)
SEED = 20240611


def development_sets() -> list[Path]:
    corpus = sorted(p for p in CORPUS_DIR.glob("corpus*.jsonl") if p.resolve() != BLIND.resolve())
    return [*OLD_SETS, *corpus]


def is_validation(text: str) -> bool:
    """The fixed quarter of the corpus kept aside with ``--exclude-validation``."""
    return zlib.crc32(text.encode()) % 4 == 0


def load(paths: Sequence[Path], exclude_validation: bool = False) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        if path.resolve() == BLIND.resolve():
            raise ValueError("the blind holdout is never used for training")
        corpus = path.parent.resolve() == CORPUS_DIR.resolve()
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                row = json.loads(line)
                if exclude_validation and corpus and is_validation(row["text"]):
                    continue
                rows.append(row)
    return rows


def features(texts: Sequence[str]) -> csr_matrix:
    """Messages as rows of the 2**18-bucket hashed space (see ``compact`` for fitting)."""
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        tokens = [token for token in tokenize(text) if token != QUOTE]
        for bucket, value in sorted(message_features(tokens).items()):
            indices.append(bucket)
            data.append(value)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(texts), 1 << BUCKET_BITS))


def compact(x: csr_matrix) -> tuple[csr_matrix, np.ndarray]:
    """Only the buckets some message uses (fitting over 2**18 columns is needlessly slow)."""
    used = np.unique(x.indices)
    return x[:, used], used


def _fit(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")


def out_of_fold(
    x: csr_matrix, y: np.ndarray, c: float, only: np.ndarray | None = None
) -> np.ndarray:
    """Out-of-fold probabilities for every row; fitted on the rows in ``only`` if given."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    p = np.zeros(len(y))
    for train, test in folds.split(x, y):
        if only is not None:
            train = train[only[train]]
        p[test] = _fit(c).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return p


def best_c(
    x: csr_matrix, y: np.ndarray, name: str, only: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    losses: dict[float, float] = {}
    predictions: dict[float, np.ndarray] = {}
    rows = np.ones(len(y), dtype=bool) if only is None else only
    for c in C_GRID:
        predictions[c] = out_of_fold(x, y, c, only)
        losses[c] = log_loss(y[rows], predictions[c][rows])
        print(f"{name}: C={c:<6} out-of-fold log loss {losses[c]:.4f}")
    c = min(losses, key=losses.__getitem__)
    return c, predictions[c]


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _acceptable(precision: float, adds: bool, added_precision: float) -> bool:
    return precision >= URGENT_PRECISION and (not adds or added_precision >= ADDED_PRECISION)


def choose_urgent(
    p: np.ndarray, y: np.ndarray, rules_urgent: np.ndarray, vetoed: np.ndarray
) -> tuple[float, bool, dict[str, float]]:
    """The urgent threshold and whether the model may make messages URGENT (module doc).

    The threshold is judged on the model's own out-of-fold predictions, not on what it adds
    to the rules here: the rules were tuned on these very messages, so their recall on them
    overstates them, and judging the model by what it adds on top would say it never pays.
    On a quarter of the corpus kept away from both (``--exclude-validation``) the model
    added 0.09-0.15 urgent recall at these thresholds.
    """
    usable = ~vetoed
    for t in np.arange(0.30, 0.99, 0.01):
        alone = (p >= t) & usable
        precision = _ratio(int((alone & y).sum()), int(alone.sum()))
        if precision >= MODEL_PRECISION:
            shipped = rules_urgent | alone
            figures = {
                "model_recall": _ratio(int((alone & y).sum()), int(y.sum())),
                "model_precision": precision,
                "rules_recall_in_sample": _ratio(int((rules_urgent & y).sum()), int(y.sum())),
                "shipped_recall_in_sample": _ratio(int((shipped & y).sum()), int(y.sum())),
                "shipped_precision_in_sample": _ratio(
                    int((shipped & y).sum()), int(shipped.sum())
                ),
            }
            allowed = (
                figures["model_recall"] >= MIN_MODEL_RECALL
                and figures["shipped_precision_in_sample"] >= SHIPPED_PRECISION
            )
            return round(float(t), 2), allowed, figures
    return 0.99, False, {}


def choose_given(
    p: np.ndarray, y: np.ndarray, already: np.ndarray, flagged: np.ndarray, vetoed: np.ndarray,
    base_recall: float,
) -> tuple[float, dict[str, float]]:
    """The urgent threshold among flagged messages, 2.0 (off) when it does not pay."""
    for t in np.arange(0.30, 0.99, 0.01):
        added = flagged & (p >= t) & ~vetoed & ~already
        shipped = already | added
        precision = _ratio(int((shipped & y).sum()), int(shipped.sum()))
        added_precision = _ratio(int((added & y).sum()), int(added.sum()))
        if _acceptable(precision, bool(added.any()), added_precision):
            recall = _ratio(int((shipped & y).sum()), int(y.sum()))
            figures = {"recall_before": base_recall, "recall": recall, "precision": precision,
                       "added": int(added.sum()), "added_precision": added_precision}
            if recall - base_recall >= MIN_GAIN:
                return round(float(t), 2), figures
            return 2.0, figures
    return 2.0, {}


def choose_flag(
    p: np.ndarray, flagged: np.ndarray, rules_flagged: np.ndarray, vetoed: np.ndarray
) -> tuple[float, dict[str, float]]:
    """The highest flag threshold keeping out-of-fold urgent-or-high recall (rules or model)
    >= ``FLAG_RECALL`` and precision >= ``FLAG_PRECISION``: every HIGH makes the bot ask
    the student whether they are safe, so no more of them than that recall needs. When no
    threshold reaches that recall, the lowest one keeping the precision."""
    best: tuple[float, dict[str, float]] | None = None
    fallback: tuple[float, dict[str, float]] | None = None
    base = _ratio(int((rules_flagged & flagged).sum()), int(flagged.sum()))
    for t in np.arange(0.20, 0.99, 0.01):
        shipped = rules_flagged | ((p >= t) & ~vetoed)
        precision = _ratio(int((shipped & flagged).sum()), int(shipped.sum()))
        recall = _ratio(int((shipped & flagged).sum()), int(flagged.sum()))
        found = (round(float(t), 2), {"rules_recall": base, "recall": recall,
                                      "precision": precision})
        if precision >= FLAG_PRECISION and fallback is None:
            fallback = found  # the most recall the precision floor allows
        if recall >= FLAG_RECALL and precision >= FLAG_PRECISION:
            best = found
    # If no threshold reaches FLAG_RECALL, the lowest one that keeps the precision floor.
    return best or fallback or (0.99, {})


def _quantise(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    scale = float(np.abs(matrix).max()) / LEVELS
    return scale, np.rint(matrix / scale).astype(int)


def train(
    paths: Sequence[Path] | None = None,
    write: bool = True,
    exclude_validation: bool = False,
    output: Path = MODEL_PATH,
) -> dict[str, object]:
    sets = list(paths) if paths else development_sets()
    rows = load(sets, exclude_validation)
    print(f"{len(rows)} messages from {', '.join(p.name for p in sets)}")
    x, used = compact(features([row["text"] for row in rows]))
    y = np.array([row["priority"] == "urgent" for row in rows])
    flagged = np.array([row["priority"] in ("urgent", "high") for row in rows])
    readings = [rules_reading(row["text"]) for row in rows]
    rules_urgent = np.array([r[0].priority is Priority.URGENT for r in readings])
    rules_flagged = np.array([r[0].priority is not Priority.NORMAL for r in readings])
    vetoed = np.array([r[2] or not r[1] for r in readings])

    c_urgent, p_urgent = best_c(x, y, "urgent")
    c_flag, p_flag = best_c(x, flagged, "flag")
    threshold, allowed, urgent_figures = choose_urgent(p_urgent, y, rules_urgent, vetoed)
    flag_threshold, flag_figures = choose_flag(p_flag, flagged, rules_flagged, vetoed)
    already = rules_urgent | (allowed & (p_urgent >= threshold) & ~vetoed)
    raised = rules_flagged | ((p_flag >= flag_threshold) & ~vetoed)
    given_threshold, given_figures = choose_given(
        p_urgent, y, already, raised, vetoed, _ratio(int((already & y).sum()), int(y.sum()))
    )
    print(f"urgent: C={c_urgent}, threshold {threshold:.2f}, urgent_allowed={allowed}, "
          f"out-of-fold with the rules: {urgent_figures}")
    print(f"flag: C={c_flag}, threshold {flag_threshold:.2f}, out-of-fold with the rules: "
          f"{flag_figures}")
    print(f"urgent among flagged: threshold {given_threshold:.2f}, out-of-fold with the rules "
          f"and the heads above: {given_figures}")

    urgent = _fit(c_urgent).fit(x, y)
    flag = _fit(c_flag).fit(x, flagged)
    flagged_rows = np.flatnonzero(flagged)
    categories = sorted({rows[i]["category"] for i in flagged_rows})
    category = LogisticRegression(C=c_urgent, max_iter=5000).fit(
        x[flagged_rows], [rows[i]["category"] for i in flagged_rows]
    )
    assert list(category.classes_) == categories

    # (used buckets, urgent + flag + categories)
    coef = np.vstack([urgent.coef_[0], flag.coef_[0], category.coef_]).T
    scale, q = _quantise(coef)
    q[np.abs(q) <= PRUNE] = 0
    keep = np.flatnonzero(np.abs(q).sum(axis=1))
    deltas = np.diff(used[keep], prepend=0).tolist()
    model = {
        "version": 3,
        "hash": "crc32",
        "bucket_bits": BUCKET_BITS,
        "ngram": [MIN_N, MAX_N],
        "features": FEATURES,
        "trained_on": [path.name for path in sets],
        "validation_excluded": exclude_validation,
        "heads": ["urgent", "flag"],
        "C": [c_urgent, c_flag],
        "threshold": threshold,
        "urgent_allowed": allowed,
        "flag_threshold": flag_threshold,
        "flagged_threshold": given_threshold,
        "cv_urgent": {k: round(v, 3) for k, v in urgent_figures.items()},
        "cv_flag": {k: round(v, 3) for k, v in flag_figures.items()},
        "cv_flagged": {k: round(v, 3) for k, v in given_figures.items()},
        "categories": categories,
        "scale": scale,
        "bias": float(urgent.intercept_[0]),
        "head_bias": [float(urgent.intercept_[0]), float(flag.intercept_[0])],
        "category_bias": [float(b) for b in category.intercept_],
        "buckets": deltas,
        "weights": q[keep].ravel().tolist(),
    }
    text = json.dumps(model, separators=(",", ":"))
    print(f"{len(keep)} non-zero buckets, model.json {len(text) / 1024:.0f} KiB")
    if write:
        output.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {output}")
    return model


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="labelled sets (default: dev sets)")
    parser.add_argument("--check", action="store_true", help="print figures, write nothing")
    parser.add_argument("--exclude-validation", action="store_true",
                        help="leave a fixed quarter of the corpus out (to validate on it)")
    parser.add_argument("--output", type=Path, default=MODEL_PATH, help="where to write")
    args = parser.parse_args(argv)
    train(
        args.paths or None,
        write=not args.check,
        exclude_validation=args.exclude_validation,
        output=args.output,
    )


if __name__ == "__main__":
    main()
