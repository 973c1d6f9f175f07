"""Where the labelled triage sets live (development tools only: the training script and the
confusion benchmark). The blind holdouts, tests/triage_data/holdout*.jsonl, are never a
development set."""

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


def is_blind(path: Path) -> bool:
    """A blind holdout: measured on, never tuned or trained on."""
    return path.parent.resolve() == CORPUS_DIR.resolve() and path.name.startswith("holdout")


def development_sets() -> list[Path]:
    """The labelled sets one may tune and train on: the old sets and the corpora."""
    return [*OLD_SETS, *sorted(CORPUS_DIR.glob("corpus*.jsonl"))]
