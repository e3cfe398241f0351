"""``artifact-hub health`` and ``admin bootstrap``: what the compose stack's checks and its
``init`` service run, against real files, a real HTTP server and a real SQLite hub."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artifact_hub.cli import app
from artifact_hub.cli.health import check_heartbeat, with_heartbeat, write_heartbeat

runner = CliRunner()
pytestmark = pytest.mark.timeout(60)


def test_heartbeat_while_running_and_gone_after(tmp_path: Path) -> None:
    path = tmp_path / "relay.heartbeat"
    seen: list[tuple[bool, str]] = []

    async def work() -> str:
        await asyncio.sleep(0.05)
        seen.append(check_heartbeat(path, "relay", max_age=5))
        return "done"

    result = asyncio.run(
        with_heartbeat(work(), "relay", lambda: {"active": False}, path=path, interval=0.01)
    )
    assert result == "done"
    ok, detail = seen[0]
    assert ok, detail
    assert "active=False" in detail  # a standby relay is alive, and says so
    assert not path.exists()  # a stopped process never looks alive


def test_stale_missing_and_foreign_beats_fail(tmp_path: Path) -> None:
    path = tmp_path / "beat"
    assert check_heartbeat(path, "consumers", 30)[0] is False
    write_heartbeat(path, "consumers")
    assert check_heartbeat(path, "consumers", 30)[0] is True
    assert check_heartbeat(path, "relay", 30)[0] is False
    beat = json.loads(path.read_text())
    path.write_text(json.dumps({**beat, "at": time.time() - 120}))
    ok, detail = check_heartbeat(path, "consumers", 30)
    assert not ok and "ago" in detail
    path.write_text("{half")
    assert check_heartbeat(path, "consumers", 30)[0] is False


def test_health_command_on_heartbeats(tmp_path: Path) -> None:
    path = tmp_path / "consumers.heartbeat"
    args = ["health", "--role", "consumers", "--heartbeat-file", str(path)]
    assert runner.invoke(app, args).exit_code == 1
    write_heartbeat(path, "consumers")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # The environment variable the compose stack and the chart may set.
    moved = tmp_path / "elsewhere"
    write_heartbeat(moved, "relay")
    result = runner.invoke(
        app, ["health", "--role", "relay"], env={"ARTIFACT_HUB_HEARTBEAT_FILE": str(moved)}
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[int]]]:
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0] if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()


def test_health_command_on_the_api(http_server: tuple[int, list[int]]) -> None:
    port, statuses = http_server
    args = ["health", "--role", "api", "--port", str(port), "--timeout", "2"]
    assert runner.invoke(app, args).exit_code == 0
    statuses[0] = 503
    assert runner.invoke(app, args).exit_code == 1
    # ARTIFACT_HUB_PORT is what serve listens on: the check follows it.
    statuses[0] = 200
    result = runner.invoke(app, ["health", "--role", "api"], env={"ARTIFACT_HUB_PORT": str(port)})
    assert result.exit_code == 0, result.output


def test_admin_bootstrap_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    first = runner.invoke(app, ["admin", "bootstrap", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    key = first.stdout.strip().splitlines()[-1]
    saved = data / "bootstrap-key.txt"
    assert saved.read_text().strip() == key
    assert saved.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["admin", "bootstrap", "--data-dir", str(data)])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == key  # the same key, not a second one
    keys = runner.invoke(
        app, ["admin", "list-keys", "--tenant", "default", "--json", "--data-dir", str(data)]
    )
    assert keys.exit_code == 0, keys.output
    assert len(json.loads(keys.stdout)) == 1
