"""How long `trustline --help` takes, beside a bare Python start (issue 16: under 1 s).

    python -m benchmarks.cli_start [--runs 15]

Each run is a fresh process, as an operator types the command: `python -m bot.cli --help`
and the reference `python -c pass` (the interpreter's own start), taken in turns so that
the machine's load falls on both alike. Reported: the median wall time of each, and the
CPU time (user + system) of the median CLI run. The commands that do not speak to Telegram
do not import aiogram (bot/cli/__init__.py); it alone took about 5 s to import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess  # noqa: S404 (our own interpreter, an argument list)
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELP = [sys.executable, "-m", "bot.cli", "--help"]
BARE = [sys.executable, "-c", "pass"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command`, which must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - start, _children_cpu() - cpu


def measure(runs: int) -> dict[str, Any]:
    timed(HELP)  # the first run compiles bytecode and warms the file cache
    help_runs, bare_runs = [], []
    for _ in range(runs):
        help_runs.append(timed(HELP))
        bare_runs.append(timed(BARE))
    help_wall = statistics.median(wall for wall, _ in help_runs)
    return {
        "runs": runs,
        "help_wall_s": help_wall,
        "help_cpu_s": statistics.median(cpu for _, cpu in help_runs),
        "help_wall_max_s": max(wall for wall, _ in help_runs),
        "bare_wall_s": statistics.median(wall for wall, _ in bare_runs),
        "load_1min": round(os.getloadavg()[0], 2),
    }


async def run(smoke: bool) -> Any:
    """For `python -m benchmarks`."""
    from benchmarks.common import Figure, Result

    figures = await asyncio.to_thread(measure, 3 if smoke else 15)
    result = Result("cli_start", details=figures)
    result.add(
        Figure(
            "trustline --help, wall clock (median)",
            figures["help_wall_s"],
            "s",
            reference=figures["bare_wall_s"],
            reference_name="python -c pass",
            target="< 1 s",
            met=figures["help_wall_s"] < 1.0,
        ),
        Figure(
            "trustline --help, CPU (median)",
            figures["help_cpu_s"],
            "s",
            note=f"slowest of {figures['runs']} runs {figures['help_wall_max_s']:.2f} s wall",
        ),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(json.dumps(measure(args.runs)))


if __name__ == "__main__":
    main()
