"""Triage: urgent recall and precision per language and category, and scoring speed.

    python -m benchmarks.triage_confusion PATH.jsonl [PATH.jsonl ...] [--misses]
    python -m benchmarks.triage_confusion [--seconds 3]

With files: for the labelled messages in them (one JSON object a line with ``text``,
``language``, ``priority`` and ``category``), three variants side by side:

* ``rules`` — the lexicon alone (``assess(text, second_opinion=False)``);
* ``model`` — the learned model alone (``scoring.model_priority``: read as if the rules had
  found nothing, with the thresholds for that case and the shortest-message gate);
* ``shipped`` — what the bot decides (``assess(text)``: the rules, and the model where the
  policy in ``bot/triage/__init__.py`` lets it raise a message).

For each: urgent recall (urgent messages found as URGENT), urgent-or-high recall (urgent and
high messages found as URGENT or HIGH: noticed within the hour), urgent precision (messages
found URGENT that are urgent), overall, per language and per expected category, and the
confusion matrix of the shipped decision. ``--misses`` also lists the messages each variant
got wrong (development sets only: it prints message text).

Without files: the same for the development sets (``bot.triage.datasets.development_sets``:
the old sets, the corpora and the spent holdouts, never a blind holdout), a line per
set in the ``[name overall]: ...`` form ``benchmarks.external`` reads, then throughput of
``assess`` on short messages and the CPU time of 4096-character messages (typical and
adversarial). Times are CPU time of this process (``time.process_time``).

A note on the figures: rules and model are tuned on the development sets, so their figures
there overstate how they do on new text. Only a set nobody tuned on (the blind holdout)
gives an honest figure: the figures of record are in benchmarks/BENCHMARKS.md (the blind
holdouts, and leave-one-writer-out: ``python -m tools.train_triage_model
--leave-one-writer-out``). Earlier measurements of issue 13 that came close to one:
- corpus_b.jsonl (writer corpus-b) before any rule was written for it and with the model
  trained without it (commit 23179f9): shipped urgent recall 0.874, urgent-or-high recall
  0.988, urgent precision 0.912 (rules alone 0.793 / 0.776 / 0.926);
- a fixed quarter of corpus.jsonl (``is_validation``) that no rule was written
  for, with a model trained without it (``--exclude-validation``), rules of
  commit 5b245fa: shipped 0.930 / 0.983 / 0.851 (rules alone 0.752 / 0.777 / 0.924; model
  alone 0.845 / 0.987 / 0.879); ky 0.939, kk 0.872, ru 0.933 urgent recall.
- second round (thresholds per rule group, corpus_c): the validation part of the corpus
  (``is_validation``: that quarter of corpus.jsonl and corpus_b.jsonl, 727
  messages, and 30% of corpus_c.jsonl, 305, never trained or tuned on) with a model trained
  without it (``--exclude-validation --c 100``), rules of commit abc6e45, as
  urgent recall / urgent-or-high recall / urgent precision / normal raised to HIGH:
  quarter 0.959 / 0.985 / 0.909 / 0.078 (before: 0.959 / 0.985 / 0.882 / 0.148);
  corpus_c 30% 0.870 / 0.981 / 0.847 / 0.097 (before, the shipped model of commit
  adf5430 that never saw corpus_c: 0.898 / 1.000 / 0.829 / 0.236). Per language on
  corpus_c 30%: ky 0.947 / 1.000 / 0.923, kk 0.793 / 0.957 / 0.793, ru 0.737 / 0.972 /
  0.667, mixed 0.923 / 1.000 / 0.923. Rules alone there 0.667 / 0.702 / 0.889, model
  alone 0.769 / 0.944 / 0.902. Long indirect urgent stories (corpus_c) stay the weak spot.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.domain import Priority
from bot.triage import assess
from bot.triage.datasets import development_sets
from bot.triage.scoring import model_priority

ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL)
LANGUAGES = ("ky", "kk", "ru", "mixed", "latin")
_CORNER = "expected \\ predicted"
_FLAGGED = (Priority.URGENT, Priority.HIGH)

# Messages built to be slow: one phrase repeated, emoji floods, homoglyphs in every word,
# many rules at once, quotation marks everywhere, random Unicode.
ADVERSARIAL = {
    "one phrase repeated": ("хочу умереть " * 400)[:4096],
    "'now' beside every beating": ("сейчас меня бьют " * 300)[:4096],
    "idiom repeated": ("умираю от смеха " * 300)[:4096],
    "homoglyph in every word": ("Хочу yмepeть " * 400)[:4096],
    "alternating emoji": "🔪🩸" * 2048,
    "quotation marks": "«а» " * 1024,
    "many rules": " ".join(["меня бьют хочу умереть отчим трогает выложит фото"] * 80)[:4096],
    "Latin transliteration": ("ozumdu olturom " * 300)[:4096],
    "zero-width between letters": "х\u200bо\u200bч\u200bу " * 512,
    "one letter": "а" * 4096,
}

VARIANTS: dict[str, Callable[[str], Priority]] = {
    "rules": lambda text: assess(text, second_opinion=False).priority,
    "model": model_priority,
    "shipped": lambda text: assess(text).priority,
}


def load_rows(*paths: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            rows.extend(json.loads(line) for line in lines if line.strip())
    return rows


Pair = tuple[Priority, Priority]


def figures(pairs: Sequence[Pair]) -> dict[str, float | int]:
    """Urgent recall, urgent-or-high recall and urgent precision of (expected, got) pairs."""
    urgent = [g for e, g in pairs if e is Priority.URGENT]
    flagged = [g for e, g in pairs if e in _FLAGGED]
    predicted = [e for e, g in pairs if g is Priority.URGENT]
    nan = float("nan")
    return {
        "n": len(pairs),
        "urgent": len(urgent),
        "flagged": len(flagged),
        "predicted_urgent": len(predicted),
        "urgent_recall": (
            sum(g is Priority.URGENT for g in urgent) / len(urgent) if urgent else nan
        ),
        "flag_recall": sum(g in _FLAGGED for g in flagged) / len(flagged) if flagged else nan,
        "urgent_precision": (
            sum(e is Priority.URGENT for e in predicted) / len(predicted) if predicted else nan
        ),
    }


def evaluate(rows: list[dict[str, str]]) -> dict[str, list[Pair]]:
    """(expected, predicted) priority pairs of every row, for each variant."""
    expected = [Priority(row["priority"]) for row in rows]
    return {
        name: [(e, decide(row["text"])) for e, row in zip(expected, rows, strict=True)]
        for name, decide in VARIANTS.items()
    }


def _slices(rows: list[dict[str, str]]) -> list[tuple[str, list[int]]]:
    slices = [("overall", list(range(len(rows))))]
    languages = [lang for lang in LANGUAGES if any(r.get("language") == lang for r in rows)]
    languages += sorted({r.get("language", "?") for r in rows} - set(languages))
    for language in languages:
        slices.append((language, [i for i, r in enumerate(rows) if r.get("language") == language]))
    for category in sorted({row["category"] for row in rows}):
        slices.append(
            (f"cat {category}", [i for i, r in enumerate(rows) if r["category"] == category])
        )
    return slices


def _cell(value: float) -> str:
    return "    -" if value != value else f"{value:5.3f}"


def table(rows: list[dict[str, str]], pairs: dict[str, list[Pair]]) -> str:
    head = f"{'slice':26}{'n':>5}{'urg':>5}{'u+h':>5}  " + "  ".join(
        f"{name + ' U-rec':>13} {'UH-rec':>6} {'U-prec':>6}" for name in pairs
    )
    lines = [head]
    for name, indices in _slices(rows):
        base = figures([pairs["rules"][i] for i in indices])
        parts = [f"{name:26}{base['n']:>5}{base['urgent']:>5}{base['flagged']:>5}  "]
        cells = []
        for variant in pairs.values():
            f = figures([variant[i] for i in indices])
            cells.append(
                f"{_cell(f['urgent_recall']):>13} {_cell(f['flag_recall']):>6} "
                f"{_cell(f['urgent_precision']):>6}"
            )
        lines.append(parts[0] + "  ".join(cells))
    return "\n".join(lines)


def matrix(title: str, pairs: Sequence[Pair]) -> str:
    counts = Counter(pairs)
    f = figures(pairs)
    correct = sum(counts[(p, p)] for p in ORDER)
    accuracy = correct / len(pairs) if pairs else float("nan")
    lines = [
        f"[{title}]: {len(pairs)} messages, priority accuracy {accuracy:.3f}, "
        f"urgent recall {f['urgent_recall']:.3f}, urgent precision {f['urgent_precision']:.3f}"
        f", urgent-or-high recall {f['flag_recall']:.3f}",
        f"  {_CORNER:22}" + "".join(f"{p.value:>9}" for p in ORDER),
    ]
    for expected in ORDER:
        row = "".join(f"{counts[(expected, got)]:>9}" for got in ORDER)
        lines.append(f"  {expected.value:22}{row}")
    return "\n".join(lines)


def misses(rows: list[dict[str, str]], pairs: dict[str, list[Pair]]) -> str:
    lines = []
    for name, variant in pairs.items():
        lines.append(f"--- {name}: urgent missed / high or urgent left normal / false urgent")
        for row, (expected, got) in zip(rows, variant, strict=True):
            missed = expected is Priority.URGENT and got is not Priority.URGENT
            unflagged = expected is Priority.HIGH and got is Priority.NORMAL
            false_urgent = got is Priority.URGENT and expected is not Priority.URGENT
            if missed or unflagged or false_urgent:
                lines.append(
                    f"  {expected.value[0]}->{got.value[0]} {row.get('language', '?'):5} "
                    f"{row['category']:18} {row['text'][:160]!r}"
                )
    return "\n".join(lines)


def report(paths: Sequence[Path], show_misses: bool = False) -> str:
    rows = load_rows(*paths)
    pairs = evaluate(rows)
    names = ", ".join(path.name for path in paths)
    out = [
        f"{names}: {len(rows)} messages. Columns per variant: urgent recall, urgent-or-high "
        "recall, urgent precision.",
        table(rows, pairs),
        "",
        matrix("shipped decision", pairs["shipped"]),
    ]
    if show_misses:
        out += ["", misses(rows, pairs)]
    return "\n".join(out)


def _throughput(texts: list[str], seconds: float) -> float:
    for text in texts:  # warm the token cache, as a running bot has it
        assess(text)
    done = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for text in texts:
            assess(text)
        done += len(texts)
    return done / (time.process_time() - start)


def _cpu_ms(text: str, repeats: int = 5) -> float:
    assess(text)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        assess(text)
        best = min(best, time.process_time() - start)
    return best * 1000


def measure(seconds: float = 3.0) -> dict[str, Any]:
    """Per development set: shipped pairs; and the speed figures (plain values)."""
    sets = {path.stem: load_rows(path) for path in development_sets()}
    shipped = {
        name: [(Priority(r["priority"]), assess(r["text"]).priority) for r in rows]
        for name, rows in sets.items()
    }
    texts = [row["text"] for rows in sets.values() for row in rows]
    short = [text for text in texts if len(text) < 300]
    long_ms = [_cpu_ms(text) for text in texts if len(text) >= 4000]
    return {
        "shipped": shipped,
        "short_messages": len(short),
        "messages_per_second": _throughput(short, seconds),
        "long_ms": long_ms,
        "adversarial_ms": {name: _cpu_ms(text) for name, text in ADVERSARIAL.items()},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="labelled .jsonl files")
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput run length")
    parser.add_argument("--misses", action="store_true", help="list the wrong messages")
    args = parser.parse_args(argv)
    if args.paths:
        print(report(args.paths, args.misses))
        return
    print(report(development_sets(), args.misses), end="\n\n")
    figures_ = measure(args.seconds)
    everything: list[Pair] = []
    for name, pairs in figures_["shipped"].items():
        print(matrix(f"{name} overall", pairs), end="\n\n")
        everything += pairs
    print(matrix("overall", everything), end="\n\n")
    print(
        f"throughput: {figures_['messages_per_second']:,.0f} messages/s on one core "
        f"(CPU time, {figures_['short_messages']} messages under 300 characters)"
    )
    long_ms = figures_["long_ms"]
    if long_ms:
        print(
            f"4096-character messages: median {statistics.median(long_ms):.2f} ms, "
            f"max {max(long_ms):.2f} ms (CPU, best of 5)"
        )
    for name, ms in sorted(figures_["adversarial_ms"].items(), key=lambda item: -item[1]):
        print(f"  {ms:6.2f} ms  {name}")


if __name__ == "__main__":
    main()
