"""`relay serve` as an operator meets it: a real process, its exit status and its log."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.smtp.process import free_port, write_config


def serve_beside_a_taken_port(
    tmp_path: Path, section: str, **settings: dict[str, str]
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """`relay serve` with `section`.listen on a port another socket holds: its port and result."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "relay.toml", {
            **settings,
            section: {"listen": f"127.0.0.1:{port}"},
            "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"},
            "upstream": {"kind": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        })
        return port, subprocess.run(
            [sys.executable, "-m", "relay", "--config", str(config), "serve"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )


def test_a_port_in_use_is_a_configuration_error_saying_what_to_do(tmp_path: Path) -> None:
    port, result = serve_beside_a_taken_port(tmp_path, "server")
    assert result.returncode == 2
    assert result.stderr == (
        f"relay: error: 127.0.0.1:{port} is already in use: "
        "stop the other server or change server.listen\n"
    )


def test_a_metrics_port_in_use_stops_the_start_in_one_line(tmp_path: Path) -> None:
    """Exit 2 naming metrics.listen, as for the SMTP port; the SMTP port is let go again."""
    port, result = serve_beside_a_taken_port(
        tmp_path, "metrics", server={"listen": f"127.0.0.1:{free_port()}"})
    assert result.returncode == 2
    assert result.stderr == (
        f"relay: error: 127.0.0.1:{port} is already in use: "
        "stop the other server or change metrics.listen\n"
    )
