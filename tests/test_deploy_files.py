"""The deployment files say only what the code accepts: every `trustline` command and flag
in the Dockerfile, compose.yaml and docs/DEPLOY.md parses with the CLI's own parser and
appears in that command's --help (argparse would take an abbreviation of a renamed flag),
and every TRUSTLINE_ variable they set is a setting. No image registry is reachable where
this runs, so this is what stands in for `docker compose up`."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from bot.cli import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
DEPLOY_FILES = (DOCKERFILE, COMPOSE, CADDYFILE, DEPLOY_DOC)

VARIABLE = re.compile(r"\bTRUSTLINE_[A-Z0-9_]+\b")
SHELL_STOPS = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"}


def setting_variables() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "TRUSTLINE_"
    return {prefix + name.upper() for name in Settings.model_fields}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def our_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services run from this repository's image (ENTRYPOINT trustline)."""
    return {name: svc for name, svc in spec["services"].items() if "build" in svc}


def _is_trustline(token: str) -> bool:
    return token == "trustline" or token.endswith("bin/trustline")


# `docker compose exec` and `docker compose run` options that take a value.
VALUE_OPTIONS = {
    "-e", "--env", "-u", "--user", "-w", "--workdir", "--index", "-v", "--volume",
    "--entrypoint", "--name", "-p", "--publish", "-l", "--label",
}  # fmt: skip


def _argv_of_command(words: list[str]) -> list[str] | None:
    """The arguments of `trustline` when this simple command runs it: directly (after
    VAR=value assignments), as a systemd Exec line, or by `docker compose exec|run`."""
    if words and re.fullmatch(r"Exec[A-Za-z]*=.*", words[0]):
        words = [words[0].split("=", 1)[1], *words[1:]]
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
        words = words[1:]
    if words[:3] in (["docker", "compose", "exec"], ["docker", "compose", "run"]):
        # exec runs the command given; run gives its arguments to the entrypoint, the
        # image's `trustline` unless --entrypoint names another program.
        entrypoint = None if words[2] == "exec" else "trustline"
        rest = words[3:]
        while rest and rest[0].startswith("-"):
            if rest[0] == "--entrypoint" and len(rest) > 1:
                entrypoint = rest[1]
            rest = rest[2:] if rest[0] in VALUE_OPTIONS else rest[1:]
        words = rest[1:]  # after the service's name
        if entrypoint is not None:
            return words if _is_trustline(entrypoint) and words else None
    if words and _is_trustline(words[0]):
        return words[1:]
    return None


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in SHELL_STOPS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def doc_invocations(markdown: str) -> list[list[str]]:
    """`trustline ...` runs inside the document's fenced code blocks (shell lines, cron
    lines, systemd units), continuation lines joined."""
    found = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", markdown, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                continue
            for words in _simple_commands(tokens):
                argv = _argv_of_command(words)
                if argv is not None:
                    found.append(argv)
    return found


def invocations() -> list[tuple[str, list[str]]]:
    """Every argument list given to `trustline` by the deployment files, with its origin."""
    found: list[tuple[str, list[str]]] = []
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    entrypoints = [_exec_form(a) for k, a in instructions if k == "ENTRYPOINT"]
    assert entrypoints == [["trustline"]]
    for keyword, arguments in instructions:
        if keyword == "CMD":
            found.append(("Dockerfile CMD", _exec_form(arguments)))
    for name, svc in our_services(compose()).items():
        command = svc.get("command")
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else list(command)
            found.append((f"compose.yaml {name}.command", [str(a) for a in argv]))
        test = (svc.get("healthcheck") or {}).get("test")
        if isinstance(test, list):
            words = [str(t) for t in test if t not in ("CMD", "CMD-SHELL")]
            argv_in_test = _argv_of_command(words)
            if argv_in_test is not None:
                found.append((f"compose.yaml {name}.healthcheck", argv_in_test))
    for argv in doc_invocations(DEPLOY_DOC.read_text(encoding="utf-8")):
        found.append(("docs/DEPLOY.md", argv))
    return found


def cli_problems(argv: list[str]) -> list[str]:
    """What the CLI's parser refuses in `trustline ARGV`, and every --flag of ARGV that
    the --help of its command does not name exactly."""
    parser = build_parser()
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parser.parse_args(argv)
    except SystemExit:
        return [f"`trustline {shlex.join(argv)}` does not parse: {errors.getvalue().strip()}"]
    helptext = io.StringIO()
    with contextlib.redirect_stdout(helptext), pytest.raises(SystemExit) as leaving:
        build_parser().parse_args([*argv, "--help"])
    assert leaving.value.code == 0
    problems = []
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag.startswith("--") and not re.search(
            rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helptext.getvalue()
        ):
            problems.append(f"`trustline {shlex.join(argv)}`: {flag} is not in its --help")
    return problems


def variable_problems(text: str, where: str) -> list[str]:
    known = setting_variables()
    return [
        f"{where}: {name} is not a setting in bot/config.py"
        for name in sorted(set(VARIABLE.findall(text)))
        if name not in known
    ]


def test_every_trustline_invocation_exists_in_the_cli() -> None:
    found = invocations()
    origins = {origin for origin, _ in found}
    # The files do use the CLI: the bot, the migrations and the doc's commands.
    assert {"Dockerfile CMD", "compose.yaml bot.command", "compose.yaml migrate.command"} <= (
        origins
    )
    assert sum(origin == "docs/DEPLOY.md" for origin, _ in found) >= 5
    problems = [f"{origin}: {p}" for origin, argv in found for p in cli_problems(argv)]
    assert problems == []


def test_every_trustline_variable_is_a_setting() -> None:
    problems = [
        p
        for path in DEPLOY_FILES
        for p in variable_problems(path.read_text(encoding="utf-8"), path.name)
    ]
    assert problems == []
    environment = our_services(compose())["bot"]["environment"]
    assert {"TRUSTLINE_DATABASE_URL", "TRUSTLINE_MASTER_KEY_FILE"} <= set(environment)


def test_a_renamed_flag_command_or_variable_is_caught() -> None:
    """The checks above can fail: a flag renamed (even one the old name abbreviates), a
    command that is gone, a variable that is not a setting."""
    assert cli_problems(["run", "--webhook", "https://x.example/t"]) == []
    assert cli_problems(["run", "--webh", "https://x.example/t"])  # abbreviation
    assert cli_problems(["run", "--hook", "https://x.example/t"])
    assert cli_problems(["db", "migrate"])
    assert cli_problems(["backup"])  # --out is required
    assert variable_problems("TRUSTLINE_DATABASE_URL=x", "t") == []
    assert variable_problems("TRUSTLINE_DB_URL=x", "t")


def test_compose_runs_two_webhook_replicas_after_the_migrations() -> None:
    spec = compose()
    services = our_services(spec)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    bot = services["bot"]
    assert bot["deploy"]["replicas"] == 2
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # As compose hands it over: ${DOMAIN:?...} replaced by the value from .env.
    command = [re.sub(r"\$\{(\w+)[^}]*\}", "bot.example.org", a) for a in bot["command"]]
    args = build_parser().parse_args(command)
    assert args.command == "run" and args.webhook.startswith("https://")
    assert args.host == "0.0.0.0"
    # One port for the webhook and the health endpoints, and /readyz is what is checked.
    port = str(args.port)
    assert bot["environment"]["TRUSTLINE_HTTP_PORT"] == port
    health = " ".join(bot["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in health
    # The proxy passes exactly the webhook's path on to the bot's port.
    caddyfile = CADDYFILE.read_text(encoding="utf-8")
    assert f"handle {urlparse(args.webhook).path} {{" in caddyfile
    assert re.search(rf"dynamic a bot {port}\b", caddyfile)
    # No access log: it would record Telegram's secret token header.
    assert not re.search(r"^\s*log\b", caddyfile, flags=re.M)
    proxy = spec["services"]["proxy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert {"443:443", "80:80"} <= set(proxy["ports"])


def test_master_key_is_a_secret_file_not_a_variable() -> None:
    spec = compose()
    for name, svc in our_services(spec).items():
        environment = svc["environment"]
        assert "TRUSTLINE_MASTER_KEY" not in environment, name
        (secret,) = svc["secrets"]
        assert environment["TRUSTLINE_MASTER_KEY_FILE"] == f"/run/secrets/{secret}"
        assert spec["secrets"][secret]["file"].startswith("./secrets/")
        # The audit key is written by the bot: on the state volume, not beside the secret.
        assert environment["TRUSTLINE_AUDIT_KEY_FILE"].startswith("/var/lib/trustline/state/")


def test_dockerfile_is_slim_non_root_without_test_extras() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    (base,) = [a for k, a in instructions if k == "FROM"]
    assert base.startswith("python:3.11-slim")
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    installs = [a for k, a in instructions if k == "RUN" and "pip install" in a]
    assert installs and not any("[" in a for a in installs)  # no extras
    (check,) = [a for k, a in instructions if k == "HEALTHCHECK"]
    assert "/readyz" in check and "TRUSTLINE_HTTP_PORT" in check


def test_doc_lines_that_run_trustline_are_found() -> None:
    """What docs/DEPLOY.md checks rests on finding every run of the CLI, and only those."""
    markdown = "\n".join(
        [
            "```sh",
            "docker compose exec -T bot trustline doctor",
            "docker compose run --rm --entrypoint sh bot -c 'cat > /x'",
            "docker compose run --rm -e A=1 -v ./k:/k bot keys rotate",
            "useradd --system --home-dir /var/lib/trustline trustline",
            "TRUSTLINE_X=1 /opt/v/bin/trustline audit verify",
            "```",
            "```ini",
            "ExecStart=/opt/v/bin/trustline run --port 8080",
            "```",
            "```",
            "30 2 * * * root cd /x && trustline backup --out /b >> /var/log/b.log",
            "```",
        ]
    )
    assert doc_invocations(markdown) == [
        ["doctor"],
        ["keys", "rotate"],
        ["audit", "verify"],
        ["run", "--port", "8080"],
        ["backup", "--out", "/b"],
    ]
