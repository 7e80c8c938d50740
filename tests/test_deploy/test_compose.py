"""docker-compose.yml and the Dockerfile: schema-valid and running only real commands.

There is no Docker engine here, so the file is validated against the Compose
specification's JSON schema, and every command it (and the Dockerfile) runs is checked
against what the project really has.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from arq.utils import import_string

from services.unified.cli import main as cli_main

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_file_passes_the_schema_check() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def assert_real_command(argv: list[str]) -> None:
    """`python -m arq <settings>`, `arq <settings>` or an `ai-worker` command whose options parse."""
    if argv[:3] == ["python", "-m", "arq"] or argv[:1] == ["arq"]:
        settings_cls = import_string(argv[-1])
        assert vars(settings_cls)["functions"], argv
        return
    assert argv[0] == "ai-worker", f"unknown program in {argv}"
    command: click.Command = cli_main
    words = argv[1:]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        assert words[0] in command.commands, f"no command {words[0]!r} in {argv}"
        command, words = command.commands[words[0]], words[1:]
    command.make_context(argv[0], list(words))  # raises on an unknown option or value


def commands_in(service: dict[str, Any]) -> list[list[str]]:
    found = []
    if "command" in service:
        command = service["command"]
        found.append(command if isinstance(command, list) else shlex.split(command))
    test = service.get("healthcheck", {}).get("test")
    if test and test[0] == "CMD":
        found.append(test[1:])
    return found


def test_services_and_profiles() -> None:
    services = COMPOSE["services"]
    assert {"redis", "postgres", "migrate", "ai-service-arq-worker"} <= set(services)
    assert services["ai-service-arq-worker"]["command"] == [
        "python",
        "-m",
        "arq",
        "app.workers.unified_worker.UnifiedWorkerSettings",
    ]
    legacy = {name for name, s in services.items() if "legacy" in s.get("profiles", [])}
    assert legacy == {"ai-service-long-task-worker", "ai-service-memory-worker"}
    for name in ("redis", "postgres"):
        assert "healthcheck" in services[name]
    assert services["migrate"]["command"] == ["ai-worker", "migrate"]


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_project_command_exists(name: str) -> None:
    service = COMPOSE["services"][name]
    if "build" not in service:
        return  # third-party images (redis, postgres) run their own commands
    commands = commands_in(service)
    assert commands, f"{name} runs nothing checkable"
    for argv in commands:
        assert_real_command(argv)


def test_workers_wait_for_migrations_and_stop_gracefully() -> None:
    for name, service in COMPOSE["services"].items():
        if name.startswith("ai-service-"):
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            grace = int(re.sub(r"\D", "", service["stop_grace_period"]))
            assert grace > 30, "stop_grace_period must exceed LONG_TASK_SHUTDOWN_GRACE"


def test_dockerfile_commands_exist() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    commands = re.findall(r"CMD (\[.*?\])", text)
    assert len(commands) == 2, "expected the HEALTHCHECK and the default CMD"
    for command in commands:
        assert_real_command(json.loads(command))


def test_supervisord_programs_run_real_commands() -> None:
    parser = configparser.RawConfigParser()
    parser.read(REPO_ROOT / "deploy" / "supervisord.conf")
    programs = [s for s in parser.sections() if s.startswith("program:")]
    assert set(programs) == {
        "program:ai-worker",
        "program:legacy-long-tasks",
        "program:legacy-memory",
    }
    for section in programs:
        assert_real_command(shlex.split(parser.get(section, "command")))
        assert parser.get(section, "stopsignal") == "TERM"
        assert int(parser.get(section, "stopwaitsecs")) > 30
    assert parser.get("program:legacy-long-tasks", "autostart") == "false"
    assert parser.get("group:legacy", "programs") == "legacy-long-tasks,legacy-memory"
