"""``artifact-hub relay`` beats its heartbeat and ``artifact-hub health`` reads it, as the
compose stack's and the chart's probes do: two real processes on an embedded hub (SQLite, so
the relay lease is a lock file and no service is needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)
CLI = [sys.executable, "-m", "artifact_hub.cli.main"]


def health(env: dict[str, str], role: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "health", "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_relay_heartbeat_passes_the_health_check_and_goes_with_the_process(
    tmp_path: Path,
) -> None:
    beat = tmp_path / "relay.heartbeat"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")},
        "ARTIFACT_HUB_DATA_DIR": str(tmp_path / "hub"),
        "ARTIFACT_HUB_HEARTBEAT_FILE": str(beat),
        "ARTIFACT_HUB_SEARCH_EMBEDDER": "none",
    }
    (tmp_path / "hub").mkdir()
    assert health(env, "relay").returncode == 1  # nothing runs yet
    relay = subprocess.Popen(
        [*CLI, "relay"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not beat.exists():
            assert relay.poll() is None, relay.communicate()[0]
            assert time.monotonic() < deadline, "no heartbeat within 60 s"
            time.sleep(0.2)
        checked = health(env, "relay")
        assert checked.returncode == 0, checked.stderr
        print(checked.stdout.strip())
        assert json.loads(beat.read_text())["pid"] == relay.pid
        # The only relay on this database: it holds the lease and says so.
        deadline = time.monotonic() + 10
        while not json.loads(beat.read_text()).get("active"):
            assert time.monotonic() < deadline, beat.read_text()
            time.sleep(0.2)
        # The consumers' check does not pass on the relay's beat.
        assert health(env, "consumers").returncode == 1
    finally:
        relay.send_signal(signal.SIGTERM)
        output = relay.communicate(timeout=30)[0]
    assert relay.returncode == 0, output
    assert not beat.exists()
    assert health(env, "relay").returncode == 1
