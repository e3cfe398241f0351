"""``artifact-hub sweep``: one sweeper pass from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artifact_hub.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_sweep_expires_and_purges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = str(tmp_path / "hub")
    source = tmp_path / "a.txt"
    source.write_text("short-lived")
    monkeypatch.setenv("ARTIFACT_HUB_RETENTION_DAYS", str(1 / 86400))  # one second
    code, out = run("push", str(source), "--ttl", "1", "--data-dir", data, "--json")
    assert code == 0, out
    keep = json.loads(run("push", str(source), "--ttl", "never", "--data-dir", data, "--json")[1])
    time.sleep(1.2)

    code, out = run("sweep", "--data-dir", data, "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "expired": 1,
        "purged": 0,
        "blobs_removed": 0,
        "idempotency_keys_dropped": 0,
    }
    time.sleep(1.1)
    code, out = run("sweep", "--data-dir", data)
    assert code == 0, out
    # Purged, but the bytes stay: the other artifact has the same content.
    assert "purged 1" in out and "blobs removed 0" in out
    code, out = run("get", keep["artifact_id"], "--data-dir", data)
    assert code == 0, out
