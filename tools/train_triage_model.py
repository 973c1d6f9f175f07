"""Train the learned second opinion and write ``bot/triage/model.json`` (development only).

    pip install -e '.[train]'
    python -m tools.train_triage_model [--check] [--exclude-validation] [--output PATH]
        [--c C ...] [PATH ...]

Trains on the development sets (``DEVELOPMENT_SETS``: the old evaluation and holdout sets and
the corpus tests/triage_data/corpus*.jsonl). The blind holdout tests/triage_data/holdout.jsonl
is never read here: neither the weights, the regularisation nor the thresholds may see it,
or its figures stop being honest. ``--exclude-validation`` leaves out a fixed part of the
corpus (a quarter of corpus.jsonl and corpus_b.jsonl, 30% of corpus_c.jsonl, by a hash of the
text) so its figures can be read as a validation set.

* features: ``model.message_features`` (character 2-5-grams of skeleton tokens, CRC-32
  hashed into 2**18 buckets), the very function the bot scores with;
* heads: logistic regressions for ``urgent`` and ``flag`` (urgent or high), C chosen by
  5-fold stratified cross-validation (log loss), and a multinomial category head over the
  urgent and high rows;
* thresholds, from out-of-fold predictions (``choose_thresholds``), one set per group of
  what the rules found (nothing, weak hints only, HIGH), as ``scoring._model_decision``
  applies them: urgent thresholds giving the most urgent recall (rules or model) that keeps
  urgent precision >= ``SHIPPED_TARGET``; then flag thresholds and ``min_words`` (the
  shortest message with no rule signal the model judges) giving the fewest normal messages
  raised to HIGH that keep urgent-or-high recall >= ``FLAG_RECALL``;
* export: only non-zero weights, quantised to integers with one scale, bucket ids
  delta-encoded. ``--check`` prints the figures without writing the file.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold, StratifiedKFold

from bot.domain import Priority
from bot.triage.datasets import CORPUS_DIR, OLD_WRITER, development_sets, is_blind
from bot.triage.model import (
    BUCKET_BITS,
    FEATURES,
    MAX_N,
    MIN_N,
    MODEL_PATH,
    Model,
    message_features,
)
from bot.triage.normalize import QUOTE, tokenize
from bot.triage.scoring import assess, model_priority, rules_reading

C_GRID = (30.0, 100.0)
# Targets for the thresholds on out-of-writer predictions (``choose_thresholds``): a little
# above the (urgent precision 0.85, urgent-or-high recall 0.97), because the rules
# were written with these writers' messages in view. Chosen by leave-one-writer-out
# (third round of issue 13): 0.86 to 0.92 tried; 0.88 kept pooled precision above 0.85.
SHIPPED_TARGET = 0.88
FLAG_RECALL = 0.985
LEVELS = 127  # quantisation: weights become integers in [-LEVELS, LEVELS]
PRUNE = 1  # quantised weights this small are dropped (they keep the file under 1 MB)
MAX_BYTES = 950_000  # more pruning when the file would be larger
SEED = 20240611
INNER_FOLDS = 4  # out-of-writer predictions: folds of whole writers


def is_validation(text: str, name: str = "corpus.jsonl") -> bool:
    """The fixed part of the corpus kept aside with ``--exclude-validation``: a quarter of
    corpus.jsonl and corpus_b.jsonl, 30% of corpus_c.jsonl (by a hash of the text)."""
    if name == "corpus_c.jsonl":
        return zlib.crc32(b"c:" + text.encode()) % 10 < 3
    return zlib.crc32(text.encode()) % 4 == 0


def load(paths: Sequence[Path], exclude_validation: bool = False) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        if is_blind(path):
            raise ValueError("a blind holdout is never used for training")
        corpus = path.parent.resolve() == CORPUS_DIR.resolve()
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                row = json.loads(line)
                if exclude_validation and corpus and is_validation(row["text"], path.name):
                    continue
                row.setdefault("writer", OLD_WRITER)
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
    x: csr_matrix,
    y: np.ndarray,
    c: float,
    only: np.ndarray | None = None,
    writers: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities for every row; fitted on the rows in ``only`` if given.

    With ``writers``, each writer's rows are predicted by a model that never saw that writer
    (out-of-writer predictions: what a new writer's messages look like to the model);
    otherwise by 5 stratified folds."""
    if writers is not None and len(set(writers)) >= 3:
        # at most INNER_FOLDS fits: writers are grouped, none split between folds
        n = min(INNER_FOLDS, len(set(writers)))
        splits = GroupKFold(n_splits=n).split(x, y, writers)
    else:
        splits = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(x, y)
    p = np.zeros(len(y))
    for train, test in splits:
        if only is not None:
            train = train[only[train]]
        p[test] = _fit(c).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return p


def best_c(
    x: csr_matrix,
    y: np.ndarray,
    name: str,
    only: np.ndarray | None = None,
    grid: Sequence[float] = C_GRID,
    writers: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    losses: dict[float, float] = {}
    predictions: dict[float, np.ndarray] = {}
    rows = np.ones(len(y), dtype=bool) if only is None else only
    for c in grid:
        predictions[c] = out_of_fold(x, y, c, only, writers)
        losses[c] = log_loss(y[rows], predictions[c][rows])
        print(f"{name}: C={c:<6} out-of-fold log loss {losses[c]:.4f}")
    c = min(losses, key=losses.__getitem__)
    return c, predictions[c]


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _model_levels(
    p_urgent: np.ndarray,
    p_flag: np.ndarray,
    groups: np.ndarray,
    words: np.ndarray,
    vetoed: np.ndarray,
    urgent_t: tuple[float, float, float],
    flag_t: tuple[float, float],
    min_words: int,
) -> tuple[np.ndarray, np.ndarray]:
    """What ``scoring._model_decision`` does, for arrays: (made URGENT, made HIGH) by the model.

    ``groups``: 2 = HIGH by the rules, 1 = NORMAL with weak hints, 0 = no rule signal.
    ``urgent_t`` = (no signal, hinted, rules HIGH); ``flag_t`` = (no signal, hinted).
    """
    usable = ~vetoed
    short = words < min_words
    u_t = np.choose(groups, urgent_t)
    f_t = np.where((groups == 0) & short, 2.0, np.choose(groups, (*flag_t, 2.0)))
    urgent_like = usable & (p_urgent >= u_t)
    capped = urgent_like & (groups == 1) & short  # HIGH, not URGENT
    urgent = urgent_like & ~capped
    high = usable & ~urgent & (capped | (p_flag >= f_t))
    return urgent, high


def choose_thresholds(
    p_urgent: np.ndarray,
    p_flag: np.ndarray,
    y: np.ndarray,
    flagged: np.ndarray,
    groups: np.ndarray,
    words: np.ndarray,
    vetoed: np.ndarray,
    rules_urgent: np.ndarray,
    precision_target: float = SHIPPED_TARGET,
    flag_recall: float = FLAG_RECALL,
) -> dict[str, object]:
    """The thresholds of ``scoring._model_decision``, from out-of-fold predictions.

    1. Urgent thresholds per rule group (no signal, weak hints, HIGH by the rules): the most
       urgent recall (rules or model) keeping urgent precision >= ``SHIPPED_TARGET``.
    2. Flag thresholds (no signal, weak hints) and the shortest message the model judges
       with no rule signal: the fewest normal messages raised to HIGH keeping urgent-or-high
       recall >= ``FLAG_RECALL``.
    The rules were tuned on many of these messages, so the figures here flatter them; the
    targets sit above the issue's (0.85 precision, 0.97 recall) for that reason.
    """
    normal = ~flagged
    n_urgent = max(int(y.sum()), 1)
    best_u: tuple[tuple[float, float], tuple[float, float, float]] | None = None
    # 2.0: the model makes no message of that group URGENT (where it does not pay)
    grid = (*np.round(np.arange(0.40, 0.99, 0.03), 2), 2.0)
    for t_none in grid:
        for t_hint in grid:
            for t_high in (*np.round(np.arange(0.30, 1.0, 0.05), 2), 2.0):
                made, _ = _model_levels(
                    p_urgent,
                    p_flag,
                    groups,
                    words,
                    vetoed,
                    (t_none, t_hint, t_high),
                    (2.0, 2.0),
                    1,
                )
                shipped = rules_urgent | made
                precision = _ratio(int((shipped & y).sum()), int(shipped.sum()))
                if precision < precision_target:
                    continue
                key = (round(int((shipped & y).sum()) / n_urgent, 3), precision)
                if best_u is None or key > best_u[0]:
                    best_u = (key, (float(t_none), float(t_hint), float(t_high)))
    if best_u is None:
        urgent_t, allowed = (0.99, 0.99, 2.0), False
    else:
        urgent_t, allowed = best_u[1], True
    best_f: tuple[tuple[float, float, int], tuple[float, float], int, dict[str, float]] | None
    best_f = None
    for t_none in np.round(np.arange(0.20, 0.96, 0.02), 2):
        for t_hint in np.round(np.arange(0.10, 0.96, 0.02), 2):
            for min_words in (1, 2, 3, 4, 5, 6):
                made_u, made_h = _model_levels(
                    p_urgent, p_flag, groups, words, vetoed, urgent_t, (t_none, t_hint), min_words
                )
                urgent = (rules_urgent | made_u) if allowed else rules_urgent
                raised = urgent | made_h | (groups == 2) | made_u
                recall = _ratio(int((raised & flagged).sum()), int(flagged.sum()))
                if recall < flag_recall:
                    continue
                high_normal = _ratio(int((raised & ~urgent & normal).sum()), int(normal.sum()))
                u_recall = _ratio(int((urgent & y).sum()), n_urgent)
                # fewest normal messages raised; on a tie, more urgent recall, then the
                # larger min_words (short messages carry little to read)
                key = (round(high_normal, 4), -round(u_recall, 4), -min_words)
                if best_f is None or key < best_f[0]:
                    figures = {
                        "urgent_recall": _ratio(int((urgent & y).sum()), n_urgent),
                        "urgent_precision": _ratio(int((urgent & y).sum()), int(urgent.sum())),
                        "urgent_or_high_recall": recall,
                        "normal_to_high": high_normal,
                        "normal_to_urgent": _ratio(
                            int((urgent & normal).sum()), int(normal.sum())
                        ),
                    }
                    best_f = (key, (float(t_none), float(t_hint)), min_words, figures)
    if best_f is None:
        flag_t, min_words, figures = (0.99, 0.99), 1, {}
    else:
        _, flag_t, min_words, figures = best_f
    return {
        "threshold": urgent_t[0],
        "hinted_threshold": urgent_t[1],
        "flagged_threshold": urgent_t[2],
        "urgent_allowed": allowed,
        "flag_threshold": flag_t[0],
        "hinted_flag_threshold": flag_t[1],
        "min_words": min_words,
        "cv": {k: round(v, 3) for k, v in figures.items()},
    }


def _quantise(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    scale = float(np.abs(matrix).max()) / LEVELS
    return scale, np.rint(matrix / scale).astype(int)


def fit(
    rows: Sequence[dict[str, str]],
    grid: Sequence[float] = C_GRID,
    by_writer: bool = True,
    precision_target: float = SHIPPED_TARGET,
    flag_recall: float = FLAG_RECALL,
    trained_on: Sequence[str] = (),
    exclude_validation: bool = False,
) -> dict[str, object]:
    """The model.json contents for ``rows``: weights, C and thresholds.

    ``by_writer``: C and the thresholds are chosen on out-of-writer predictions (each
    writer's rows predicted by a model trained without that writer), else on 5 stratified
    folds (the second round's way, which mixes every writer into every fold)."""
    x, used = compact(features([row["text"] for row in rows]))
    y = np.array([row["priority"] == "urgent" for row in rows])
    flagged = np.array([row["priority"] in ("urgent", "high") for row in rows])
    writers = np.array([row.get("writer", OLD_WRITER) for row in rows]) if by_writer else None
    readings = [rules_reading(row["text"]) for row in rows]
    rules_urgent = np.array([r[0].priority is Priority.URGENT for r in readings])
    groups = np.array(
        [2 if r[0].priority is Priority.HIGH else 1 if r[0].signals else 0 for r in readings]
    )
    words = np.array([len(r[1]) for r in readings])
    vetoed = np.array([r[2] or not r[1] for r in readings])

    c_urgent, p_urgent = best_c(x, y, "urgent", grid=grid, writers=writers)
    c_flag, p_flag = best_c(x, flagged, "flag", grid=grid, writers=writers)
    # the now head (urgent among urgent and high) is what scoring reads for rules' HIGH
    c_now, p_now = best_c(x, y, "now", only=flagged, grid=grid, writers=writers)
    chosen = choose_thresholds(
        np.where(groups == 2, p_now, p_urgent),
        p_flag,
        y,
        flagged,
        groups,
        words,
        vetoed,
        rules_urgent,
        precision_target=precision_target,
        flag_recall=flag_recall,
    )
    print(
        f"urgent: C={c_urgent}, flag: C={c_flag}, now: C={c_now}; thresholds and "
        f"{'out-of-writer' if by_writer else 'out-of-fold'} figures with the rules: {chosen}"
    )

    urgent = _fit(c_urgent).fit(x, y)
    flag = _fit(c_flag).fit(x, flagged)
    flagged_rows = np.flatnonzero(flagged)
    now = _fit(c_now).fit(x[flagged_rows], y[flagged_rows])
    categories = sorted({rows[i]["category"] for i in flagged_rows})
    category = LogisticRegression(C=c_urgent, max_iter=5000).fit(
        x[flagged_rows], [rows[i]["category"] for i in flagged_rows]
    )
    assert list(category.classes_) == categories

    # (used buckets, urgent + flag + now + categories)
    coef = np.vstack([urgent.coef_[0], flag.coef_[0], now.coef_[0], category.coef_]).T
    scale, q = _quantise(coef)
    prune = PRUNE
    while True:  # the smallest pruning that keeps model.json under MAX_BYTES
        q[np.abs(q) <= prune] = 0
        keep = np.flatnonzero(np.abs(q).sum(axis=1))
        size = len(json.dumps(q[keep].ravel().tolist())) + len(
            json.dumps(np.diff(used[keep], prepend=0).tolist())
        )
        if size < MAX_BYTES or prune >= 8:
            break
        prune += 1
    deltas = np.diff(used[keep], prepend=0).tolist()
    return {
        "version": 5,
        "hash": "crc32",
        "bucket_bits": BUCKET_BITS,
        "ngram": [MIN_N, MAX_N],
        "features": FEATURES,
        "trained_on": list(trained_on),
        "validation_excluded": exclude_validation,
        "thresholds_from": "out-of-writer" if by_writer else "out-of-fold",
        "targets": {"urgent_precision": precision_target, "urgent_or_high_recall": flag_recall},
        "heads": ["urgent", "flag", "now"],
        "C": [c_urgent, c_flag, c_now],
        "pruned_at": prune,
        **chosen,
        "categories": categories,
        "scale": scale,
        "bias": float(urgent.intercept_[0]),
        "head_bias": [
            float(urgent.intercept_[0]),
            float(flag.intercept_[0]),
            float(now.intercept_[0]),
        ],
        "category_bias": [float(b) for b in category.intercept_],
        "buckets": deltas,
        "weights": q[keep].ravel().tolist(),
    }


def train(
    paths: Sequence[Path] | None = None,
    write: bool = True,
    exclude_validation: bool = False,
    output: Path = MODEL_PATH,
    grid: Sequence[float] = C_GRID,
    by_writer: bool = True,
) -> dict[str, object]:
    sets = list(paths) if paths else development_sets()
    rows = load(sets, exclude_validation)
    print(f"{len(rows)} messages from {', '.join(p.name for p in sets)}")
    model = fit(
        rows,
        grid,
        by_writer=by_writer,
        trained_on=[path.name for path in sets],
        exclude_validation=exclude_validation,
    )
    text = json.dumps(model, separators=(",", ":"))
    print(f"{len(model['buckets'])} non-zero buckets, model.json {len(text) / 1024:.0f} KiB")  # type: ignore[arg-type]
    if write:
        output.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {output}")
    return model


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def leave_one_writer_out(
    paths: Sequence[Path] | None = None,
    grid: Sequence[float] = C_GRID,
    by_writer: bool = True,
    show_misses: bool = False,
    jobs: int = 1,
) -> str:
    """For each named writer: train the model (weights, C and thresholds) without that
    writer's messages (nor any message with the same text), then measure rules, model and
    the shipped decision on that writer. Returns the per-writer and pooled report.

    The rules are the same in every round: they were written with the development corpora in
    view, so their part of these figures flatters them (least for the writers whose files
    came in after the last rule change)."""
    # Imported here: the benchmark imports this package's siblings, not the other way round.
    from benchmarks.triage_confusion import Pair, figures, matrix, misses, table

    sets = list(paths) if paths else development_sets()
    rows = load(sets)
    names = sorted({row["writer"] for row in rows} - {OLD_WRITER})
    held: list[dict[str, str]] = []
    pairs: dict[str, list[Pair]] = {"rules": [], "model": [], "shipped": []}
    lines = []
    work = [(name, rows, tuple(grid), by_writer) for name in names]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_without_writer, work))
    else:
        results = [_without_writer(one) for one in work]
    for name, (test, got) in zip(names, results, strict=True):
        expected = [Priority(row["priority"]) for row in test]
        for variant, found in got.items():
            pairs[variant] += list(zip(expected, found, strict=True))
        held += test
        lines.append(_summary(name, list(zip(expected, got["shipped"], strict=True)), figures))
        rules = figures(list(zip(expected, got["rules"], strict=True)))
        lines[-1] += (
            f"   (rules alone {rules['urgent_recall']:.3f} / {rules['flag_recall']:.3f} / "
            f"{rules['urgent_precision']:.3f})"
        )
        print(lines[-1])
    pooled = _summary("pooled", pairs["shipped"], figures)
    report = [
        "leave-one-writer-out, shipped decision: urgent recall / urgent-or-high recall / "
        "urgent precision / normal raised to HIGH / normal raised to URGENT",
        *lines,
        pooled,
        "",
        table(held, pairs),
        "",
        matrix("shipped decision, leave-one-writer-out", pairs["shipped"]),
    ]
    if show_misses:
        report += ["", misses(held, pairs)]
    return "\n".join(report)


def _without_writer(
    work: tuple[str, list[dict[str, str]], tuple[float, ...], bool],
) -> tuple[list[dict[str, str]], dict[str, list[Priority]]]:
    """One round of ``leave_one_writer_out``: that writer's rows and the three variants'
    priorities for them, from a model that never saw the writer."""
    name, rows, grid, by_writer = work
    test = [row for row in rows if row["writer"] == name]
    texts = {_key(row["text"]) for row in test}
    train_rows = [r for r in rows if r["writer"] != name and _key(r["text"]) not in texts]
    print(f"--- without {name}: {len(train_rows)} messages to train, {len(test)} to measure")
    model = Model(fit(train_rows, grid, by_writer=by_writer))
    return test, {
        "rules": [assess(r["text"], second_opinion=False).priority for r in test],
        "model": [model_priority(r["text"], model) for r in test],
        "shipped": [assess(r["text"], model=model).priority for r in test],
    }


def _summary(name: str, pairs: Sequence[tuple[Priority, Priority]], figures: object) -> str:
    f = figures(pairs)  # type: ignore[operator]
    normal = [got for expected, got in pairs if expected is Priority.NORMAL]
    to_high = sum(got is Priority.HIGH for got in normal) / max(len(normal), 1)
    to_urgent = sum(got is Priority.URGENT for got in normal) / max(len(normal), 1)
    targets = (
        f["urgent_recall"] >= 0.95 and f["flag_recall"] >= 0.97 and f["urgent_precision"] >= 0.85
    )
    return (
        f"{name:10} {len(pairs):5} msgs  {f['urgent_recall']:.3f} / {f['flag_recall']:.3f} / "
        f"{f['urgent_precision']:.3f} / {to_high:.3f} / {to_urgent:.3f}  "
        f"{'met' if targets else 'missed'}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="labelled sets (default: dev sets)")
    parser.add_argument("--check", action="store_true", help="print figures, write nothing")
    parser.add_argument(
        "--exclude-validation",
        action="store_true",
        help="leave a fixed quarter of the corpus out (to validate on it)",
    )
    parser.add_argument("--output", type=Path, default=MODEL_PATH, help="where to write")
    parser.add_argument(
        "--leave-one-writer-out",
        action="store_true",
        help="train without each writer in turn and measure on that writer (writes nothing)",
    )
    parser.add_argument(
        "--stratified",
        action="store_true",
        help="choose C and thresholds on 5 stratified folds, not out-of-writer predictions",
    )
    parser.add_argument("--misses", action="store_true", help="with --leave-one-writer-out")
    parser.add_argument(
        "--jobs", type=int, default=1, help="writers measured in parallel (processes)"
    )
    parser.add_argument(
        "--c",
        type=float,
        nargs="+",
        default=list(C_GRID),
        help=f"regularisation values to try (default {C_GRID})",
    )
    args = parser.parse_args(argv)
    if args.leave_one_writer_out:
        print(
            leave_one_writer_out(
                args.paths or None,
                args.c,
                by_writer=not args.stratified,
                show_misses=args.misses,
                jobs=args.jobs,
            )
        )
        return
    train(
        args.paths or None,
        write=not args.check,
        exclude_validation=args.exclude_validation,
        output=args.output,
        grid=args.c,
        by_writer=not args.stratified,
    )


if __name__ == "__main__":
    main()
