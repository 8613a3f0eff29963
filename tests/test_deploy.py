"""The processes deploy/ starts (compose and systemd) are the ones the Makefile runs: no drift."""

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def signature(argv: list[str]) -> tuple:
    """What identifies a process: program, its sub-commands up to the first option, and the queue it serves."""
    program, rest = Path(argv[0]).name, argv[1:]
    if program == "celery":
        # `celery -A config worker -Q io`: the sub-command follows the app option.
        words = [w for w in rest if not w.startswith("-") and w != "config"][:1]
    else:
        words = []
        for word in rest:
            if word.startswith("-"):
                break
            words.append(word)
    queue = rest[rest.index("-Q") + 1] if "-Q" in rest else None
    if queue is not None:  # one index shard's queue: attribution-shard-0 in compose, -%i in systemd, -$SHARD
        queue = re.sub(r"^attribution-shard-.+$", "attribution-shard-<k>", queue)
    return (program, *words, queue)


def makefile_commands() -> set[tuple]:
    commands = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t$(BIN)/"):
            argv = shlex.split(line.strip().replace("$(BIN)/", "").replace("$$", "$"))
            commands.add(signature(argv))
    return commands


def compose_commands() -> list[tuple[str, list[str]]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return [
        (name, svc["command"])
        for name, svc in compose["services"].items()
        if svc.get("image") == "stemma:latest"
    ]


def systemd_commands() -> list[tuple[str, list[str]]]:
    found = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(unit)
        service = parser["Service"]
        for key in ("ExecStartPre", "ExecStart"):
            if key in service:
                argv = shlex.split(service[key])
                found.append((f"{unit.name}:{key}", argv))
    return found


def test_compose_file_is_complete():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("web", "worker-attribution", "worker-io", "beat", "postgres", "redis"):
        assert name in services, name
    for name in ("web", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert {"media", "pgdata"} <= set(compose["volumes"])


@pytest.mark.parametrize(
    "where, argv", compose_commands() + systemd_commands(), ids=lambda v: v if isinstance(v, str) else None
)
def test_every_deployed_process_is_a_makefile_command(where, argv):
    assert signature(argv) in makefile_commands(), f"{where} runs {argv}, which no Makefile target runs"
    if signature(argv)[:2] == ("python", "manage.py"):
        assert argv[2] in get_commands(), f"{where}: no management command {argv[2]!r}"


def test_env_example_documents_every_setting():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', settings_source))
    documented = (DEPLOY / ".env.example").read_text()
    missing = sorted(name for name in read if name not in documented)
    assert not missing, f"deploy/.env.example does not mention {missing}"


def test_wsgi_entry_point_imports():
    from config.wsgi import application

    assert callable(application)
