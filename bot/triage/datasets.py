"""Where the labelled triage sets live (development tools only: the training script and the
confusion benchmark).

A blind holdout, tests/triage_data/holdout*.jsonl, is never a development set until it has
been measured and declared spent here (``SPENT``): from then on the rules and the model may
be tuned and trained on it, and the next measurement needs a new writer's set."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[2] / "tests"
OLD_SETS = tuple(
    TESTS / name
    for name in (
        "triage_eval.jsonl",
        "triage_holdout.jsonl",
        "triage_holdout2.jsonl",
        "triage_holdout3.jsonl",
    )
)
CORPUS_DIR = TESTS / "triage_data"
# Holdouts measured blind once (figures in benchmarks/BENCHMARKS.md), development data since.
SPENT = ("holdout.jsonl", "holdout2.jsonl")
# The writer of the old sets' lines (they carry no "writer" field): one group in
# leave-one-writer-out, always trained on, never held out.
OLD_WRITER = "old-sets"


def is_blind(path: Path) -> bool:
    """A blind holdout: measured on, never tuned or trained on."""
    return (
        path.parent.resolve() == CORPUS_DIR.resolve()
        and path.name.startswith("holdout")
        and path.name not in SPENT
    )


def development_sets() -> list[Path]:
    """The labelled sets one may tune and train on: the old sets, the corpora and the spent
    holdouts."""
    return [
        *OLD_SETS,
        *sorted(CORPUS_DIR.glob("corpus*.jsonl")),
        *(CORPUS_DIR / name for name in SPENT),
    ]
