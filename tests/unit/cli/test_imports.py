"""The CLI is a front: it reaches the store only through relay.operations, and only when run."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import relay.cli
from tests.unit.cli.runner import Relay

CLI = Path(relay.cli.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _loaded_after(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter has loaded once `relay ARGV` has run."""
    code = (
        "import json, sys\n"
        "from relay.cli import main\n"
        f"status = main({argv!r})\n"
        "sys.stderr.write('\\n' + json.dumps([status, sorted(sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    status, modules = json.loads(done.stderr.rsplit("\n", 1)[1])
    assert status == 0, done.stderr
    return set(modules)


def _touches(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


def test_no_cli_module_imports_the_store_or_sqlalchemy() -> None:
    for path in CLI.glob("*.py"):
        for name in _imported(path):
            assert not _touches({name}, "relay.store"), f"{path.name} imports {name}"
            assert not _touches({name}, "sqlalchemy"), f"{path.name} imports {name}"


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_load_no_store_config_or_event_loop(option: str) -> None:
    """`relay --help` answers without paying for the database layer, or anything a command needs."""
    loaded = _loaded_after([option])
    for package in ("sqlalchemy", "relay.store", "relay.operations", "relay.config", "asyncio"):
        assert not _touches(loaded, package), package


def test_a_directory_command_loads_the_store_but_not_the_daemon(relay: Relay) -> None:
    """A store command pays for the store, not for the SMTP server or delivery."""
    loaded = _loaded_after(["--config", str(relay.config), "buyer", "add", "b1",
                            "--email", "bob@buyer.example"])
    assert _touches(loaded, "relay.store")
    for package in ("relay.app", "aiosmtpd", "aiosmtplib", "relay.delivery", "relay.smtp"):
        assert not _touches(loaded, package), package
