"""Train the learned second opinion and write ``bot/triage/model.json`` (development only).

    pip install -e '.[train]'
    python -m bot.triage.train_model [--check]

Trains on tests/triage_eval.jsonl + tests/triage_holdout.jsonl ONLY. The blind sets
(triage_holdout2.jsonl, triage_holdout3.jsonl) are never read here: neither the weights,
the regularisation nor the threshold may see them, or their figures stop being honest.

* features: ``model.message_features`` (character 2-5-grams of skeleton tokens, CRC-32
  hashed into 2**18 buckets), the very function the bot scores with;
* urgent head: logistic regression, C chosen by 5-fold stratified cross-validation (log
  loss); the threshold is the lowest probability at which the out-of-fold predictions keep
  urgent precision >= ``TARGET_PRECISION`` (stricter than the 0.80 the issue asks for,
  because the model only adds urgent messages on top of the rules);
* category head: multinomial logistic regression over the urgent rows' categories;
* export: only non-zero weights, quantised to integers with one scale, bucket ids
  delta-encoded. ``--check`` prints the figures without writing the file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from bot.triage.model import BUCKET_BITS, MAX_N, MIN_N, MODEL_PATH, message_features
from bot.triage.normalize import QUOTE, tokenize

_TESTS = Path(__file__).resolve().parents[2] / "tests"
TRAINING_SETS = (_TESTS / "triage_eval.jsonl", _TESTS / "triage_holdout.jsonl")
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
TARGET_PRECISION = 0.90
LEVELS = 1023  # quantisation: weights become integers in [-LEVELS, LEVELS]
SEED = 20240611


def load(paths: Sequence[Path] = TRAINING_SETS) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            rows.extend(json.loads(line) for line in lines if line.strip())
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


def _urgent_model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")


def out_of_fold(x: csr_matrix, y: np.ndarray, c: float) -> np.ndarray:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    p = np.zeros(len(y))
    for train, test in folds.split(x, y):
        p[test] = _urgent_model(c).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return p


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Lowest threshold whose out-of-fold urgent precision is >= TARGET_PRECISION."""
    best = (0.95, 0.0, 1.0)
    for t in np.arange(0.30, 0.96, 0.01):
        predicted = p >= t
        if not predicted.any():
            continue
        precision = float((predicted & y).sum() / predicted.sum())
        recall = float((predicted & y).sum() / y.sum())
        if precision >= TARGET_PRECISION:
            return round(float(t), 2), recall, precision
    return best


def _quantise(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    scale = float(np.abs(matrix).max()) / LEVELS
    return scale, np.rint(matrix / scale).astype(int)


def train(write: bool = True) -> dict[str, object]:
    rows = load()
    x, used = compact(features([row["text"] for row in rows]))
    y = np.array([row["priority"] == "urgent" for row in rows])

    losses = {}
    for c in C_GRID:
        losses[c] = log_loss(y, out_of_fold(x, y, c))
        print(f"C={c:<6} out-of-fold log loss {losses[c]:.4f}")
    c = min(losses, key=losses.__getitem__)
    p = out_of_fold(x, y, c)
    threshold, recall, precision = choose_threshold(p, y)
    print(f"chosen C={c}; threshold {threshold:.2f}: out-of-fold urgent recall {recall:.3f}, "
          f"precision {precision:.3f} (model alone, training sets)")

    urgent = _urgent_model(c).fit(x, y)
    urgent_rows = np.flatnonzero(y)
    categories = sorted({rows[i]["category"] for i in urgent_rows})
    category = LogisticRegression(C=c, max_iter=5000).fit(
        x[urgent_rows], [rows[i]["category"] for i in urgent_rows]
    )
    assert list(category.classes_) == categories

    coef = np.vstack([urgent.coef_[0], category.coef_]).T  # (used buckets, 1 + categories)
    scale, q = _quantise(coef)
    keep = np.flatnonzero(np.abs(q).sum(axis=1))
    deltas = np.diff(used[keep], prepend=0).tolist()
    model = {
        "version": 1,
        "hash": "crc32",
        "bucket_bits": BUCKET_BITS,
        "ngram": [MIN_N, MAX_N],
        "trained_on": [path.name for path in TRAINING_SETS],
        "C": c,
        "threshold": threshold,
        "cv_recall": round(recall, 3),
        "cv_precision": round(precision, 3),
        "categories": categories,
        "scale": scale,
        "bias": float(urgent.intercept_[0]),
        "category_bias": [float(b) for b in category.intercept_],
        "buckets": deltas,
        "weights": q[keep].ravel().tolist(),
    }
    text = json.dumps(model, separators=(",", ":"))
    print(f"{len(keep)} non-zero buckets, model.json {len(text) / 1024:.0f} KiB")
    if write:
        MODEL_PATH.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return model


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print figures, write nothing")
    args = parser.parse_args(argv)
    train(write=not args.check)


if __name__ == "__main__":
    main()
