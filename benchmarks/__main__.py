"""Run the benchmarks: python -m benchmarks [--smoke] [--only NAME ...]

Prints a table and writes everything measured to benchmarks/results/<time>.json. Exits
non-zero only when a benchmark crashed: a missed target is a finding, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import RESULTS, Figure, Result, loadavg, machine

Runner = Callable[[bool], Awaitable[Result]]


# name -> "module:function"; imported only when run, so one broken benchmark cannot stop
# the others.
REGISTRY = {
    "ingest": "benchmarks.ingest:run",  # runs 1, 2 and 6: ingest, latency, memory
    "outgoing": "benchmarks.outgoing:run",  # run 3: replies at Telegram's limits
    "queue": "benchmarks.queue_scale:run",  # run 4: /queue and /take on a big database
    "posters": "benchmarks.posters:run",  # run 5
    "triage": "benchmarks.external:triage",  # triage confusion matrices per language
    "adapter": "benchmarks.aiogram_adapter:run",  # what each private aiogram use buys
    "cli_start": "benchmarks.cli_start:run",  # trustline --help beside python -c pass
}


def _load(target: str) -> Runner:
    module, _, function = target.partition(":")
    runner: Runner = getattr(importlib.import_module(module), function)
    return runner


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _row(result: Result, figure: Figure) -> list[str]:
    met = {True: "yes", False: "MISSED", None: ""}[figure.met]
    ref = (
        f"{_fmt(figure.reference, figure.unit)} ({figure.reference_name})"
        if figure.reference is not None
        else "—"
    )
    ratio = f"{figure.ratio:.2f}" if figure.ratio is not None else "—"
    load = f"{result.load_before[0]:.1f}→{result.load_after[0]:.1f}"
    return [
        result.name,
        figure.name,
        _fmt(figure.value, figure.unit),
        ref,
        ratio,
        figure.target,
        met,
        load,
    ]


def table(results: list[Result], *, markdown: bool = False) -> str:
    head = ["bench", "figure", "value", "reference", "ratio", "target", "met", "load 1m"]
    rows = [head]
    for result in results:
        if result.error:
            rows.append([result.name, "CRASHED", "", "", "", "", "", ""])
        for figure in result.figures:
            rows.append(_row(result, figure))
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "---|" * len(head))
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_results(path: str) -> list[Result]:
    """Results written by an earlier run, to print again (e.g. as markdown)."""
    report = json.loads(Path(path).read_text())
    results = []
    for raw in report["results"]:
        figures = [Figure(**{k: v for k, v in f.items() if k != "ratio"}) for f in raw["figures"]]
        results.append(
            Result(
                raw["name"],
                figures,
                raw["details"],
                tuple(raw["load_before"]),
                tuple(raw["load_after"]),
                raw["seconds"],
                raw["error"],
            )
        )
    return results


async def run_one(name: str, smoke: bool) -> Result:
    started = time.perf_counter()
    before = loadavg()
    try:
        result = await _load(REGISTRY[name])(smoke)
    except Exception:
        result = Result(name, error=traceback.format_exc())
        print(result.error, file=sys.stderr)
    result.name = name
    result.load_before = before
    result.load_after = loadavg()
    result.seconds = round(time.perf_counter() - started, 1)
    return result


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(REGISTRY),
        metavar="NAME",
        help=f"run only these: {', '.join(REGISTRY)}",
    )
    parser.add_argument(
        "--markdown",
        nargs="+",
        metavar="RESULTS.json",
        help="print earlier results as a markdown table, run nothing",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        for path in args.markdown:
            print(f"{Path(path).name}:\n")
            print(table(load_results(path), markdown=True), end="\n\n")
        return 0
    logging.basicConfig(level=logging.WARNING)
    names = args.only or list(REGISTRY)
    started = datetime.now(UTC)
    facts = machine()  # before the run: the tree and load it started from
    results = []
    for name in names:
        print(f"== {name}{' (smoke)' if args.smoke else ''} ...", flush=True)
        result = await run_one(name, args.smoke)
        print(
            f"   {result.seconds} s, load {result.load_before[0]:.2f} → "
            f"{result.load_after[0]:.2f}",
            flush=True,
        )
        results.append(result)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "smoke": args.smoke,
        "machine": facts,
        "results": [r.as_json() for r in results],
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-smoke' if args.smoke else ''}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print()
    print(table(results))
    print(
        f"\nmachine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"Python {report['machine']['python']}, PostgreSQL {report['machine']['postgresql']}"
    )
    print(f"results: {path}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
