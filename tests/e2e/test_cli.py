"""The ``artifact-hub`` command line, as a user types it (the README's local flow)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from artifact_hub.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_push_list_pull_seal_with_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    source = tmp_path / "report.txt"
    source.write_text("quarterly numbers")
    code, out = run(
        "push",
        str(source),
        "--session",
        "run_q4",
        "--meta",
        "model=m1",
        "--tag",
        "q4",
        "--data-dir",
        str(data),
        "--json",
    )
    assert code == 0, out
    artifact = json.loads(out)
    assert artifact["name"] == "report.txt" and artifact["metadata"] == {"model": "m1"}

    code, out = run("ls", "--session", "run_q4", "--data-dir", str(data), "--json")
    assert code == 0 and [a["artifact_id"] for a in json.loads(out)] == [artifact["artifact_id"]]
    code, out = run("ls", "--meta", "model=other", "--data-dir", str(data), "--json")
    assert code == 0 and json.loads(out) == []

    target = tmp_path / "out"
    target.mkdir()
    code, out = run("pull", artifact["artifact_id"], "-o", str(target), "--data-dir", str(data))
    assert code == 0, out
    assert (target / "report.txt").read_text() == "quarterly numbers"

    assert run("seal", "run_q4", "--data-dir", str(data))[0] == 0
    code, out = run("push", str(source), "--session", "run_q4", "--data-dir", str(data))
    assert code == 6 and "session_sealed" in out
    code, out = run("get", "art_aaaaaaaaaaaaaaaa", "--data-dir", str(data))
    assert code == 4 and "artifact_not_found" in out
    assert run("rm", artifact["artifact_id"], "--data-dir", str(data))[0] == 0
    code, out = run("get", artifact["artifact_id"], "--data-dir", str(data))
    assert code == 5 and "artifact_already_deleted" in out
    code, out = run("push", str(source), "--meta", "1bad=x", "--data-dir", str(data))
    assert code != 0


def test_serve_answers_health_on_loopback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artifact_hub.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "hub"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["status"] == "ok" and response.json()["index"] == "sqlite"
        missing = httpx.get(f"http://127.0.0.1:{port}/v0/nothing", timeout=2)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (tmp_path / "hub" / "index.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=15)
