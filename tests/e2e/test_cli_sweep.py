"""``artifact-hub sweep``: one sweeper pass from the command line.

``sweep`` works on the hub's own settings (here an embedded data folder), so the artifacts it
sweeps are pushed through the same hub's service layer rather than over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from artifact_hub.cli import app
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import bootstrap
from artifact_hub.schemas import Artifact, Caller

runner = CliRunner()
OPERATOR = Caller(tenant_id="default", admin=True)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def push(data: Path, source: Path, ttl: Any) -> Artifact:
    async def go() -> Artifact:
        async with bootstrap(HubSettings(data_dir=data, sweep_enabled=False)) as hub:
            return await hub.service.push(OPERATOR, source, ttl=ttl)

    return asyncio.run(go())


def get(data: Path, artifact_id: str) -> Artifact:
    async def go() -> Artifact:
        async with bootstrap(HubSettings(data_dir=data, sweep_enabled=False)) as hub:
            return await hub.service.get(OPERATOR, artifact_id)

    return asyncio.run(go())


def test_sweep_expires_and_purges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "hub"
    source = tmp_path / "a.txt"
    source.write_text("short-lived")
    monkeypatch.setenv("ARTIFACT_HUB_RETENTION_DAYS", str(1 / 86400))  # one second
    push(data, source, 1.0)
    keep = push(data, source, "never")
    time.sleep(1.2)

    code, out = run("sweep", "--data-dir", str(data), "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "expired": 1,
        "purged": 0,
        "blobs_removed": 0,
        "idempotency_keys_dropped": 0,
        "uploads_removed": 0,
        "spool_files_removed": 0,
        "staging_removed": 0,
        "orphan_blobs_removed": 0,
        "orphan_bytes_removed": 0,
    }
    time.sleep(1.1)
    code, out = run("sweep", "--data-dir", str(data))
    assert code == 0, out
    # Purged, but the bytes stay: the other artifact has the same content.
    assert "purged 1" in out and "blobs removed 0" in out
    assert get(data, keep.artifact_id).artifact_id == keep.artifact_id
