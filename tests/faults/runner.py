"""Starts `trustline run` processes for the process-kill fault suite.

Importing aiogram and the bot takes seconds; a bot killed a dozen times would spend the
suite's time importing. So the imports happen once, here, and each bot is a fork of this
process that runs `trustline run` exactly as the console script does (`bot.cli.main`), with
its own event loop, connections and memory, and that the test kills with SIGKILL.

One line in, one line out: `start {"TRUSTLINE_...": "...", "ARGS": [...]}` (environment
and `trustline run` arguments for that bot) → the new bot's pid; `status PID` → the bot's
exit code once it ended (negative: the signal that killed it), else `running`; `quit` →
exit. Bots log to this process's stderr and keep their sent notes in its working
directory.

    python -m tests.faults.runner
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> int:
    import aiogram.types  # noqa: F401 - the slow part, done once before any fork

    import bot.app  # noqa: F401
    import bot.cli.run  # noqa: F401
    import handlers  # noqa: F401
    from bot.cli import main as trustline

    exited: dict[int, int] = {}

    def reap(_signum: int, _frame: object) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            exited[pid] = os.waitstatus_to_exitcode(status)

    signal.signal(signal.SIGCHLD, reap)  # bots are reaped as they end, their codes kept
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "quit":
            break
        if command == "status":
            reap(signal.SIGCHLD, None)
            code = exited.get(int(argument))
            print("running" if code is None else code, flush=True)
            continue
        if command != "start":
            continue
        pid = os.fork()
        if pid == 0:  # the bot
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(2, 1)  # our stdout carries pids only
            spec = json.loads(argument or "{}")
            args = spec.pop("ARGS", [])
            os.environ.update(spec)
            code = 1
            try:
                code = trustline(["run", *args])
            finally:
                os._exit(code)
        print(pid, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
