"""Issue 12's newcomer stumbles in the CLI, against a live ``artifact-hub serve``.

The hub runs as a subprocess with its own data folder, ``HOME`` and ``XDG_RUNTIME_DIR`` (where
``serve`` announces itself), so the data-folder discovery sees this hub and no other. The
commands run through typer's ``CliRunner``, or as a subprocess where the terminal width
matters.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.e2e.test_cli import LiveHub


@dataclass
class Served(LiveHub):
    """test_cli's live hub, with the runtime folder where ``serve`` announces itself."""

    run_dir: Path = Path()

    def env(self, **changes: str | None) -> dict[str, str | None]:
        """The environment of a CLI call, with this hub's runtime folder."""
        return super().env(XDG_RUNTIME_DIR=str(self.run_dir)) | changes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cli-newcomer")
    data_dir, home, run_dir = root / "hub", root / "home", root / "run"
    home.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    env |= {
        "ARTIFACT_HUB_SEARCH_EMBEDDER": "hashing",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run_dir),
    }
    log_path = root / "serve.log"
    command = [sys.executable, "-m", "artifact_hub.cli.main", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        key = (data_dir / "bootstrap-key.txt").read_text().strip()
        yield Served(url=url, key=key, data_dir=data_dir, home=home, run_dir=run_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # serve removes its announcement when it stops.
    assert list(run_dir.glob("artifact-hub/serve-*.json")) == []


@pytest.fixture
def session() -> str:
    return f"ses_new_{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------- versions, names


def test_push_version_and_names_wherever_an_artifact_is_taken(
    served: Served, session: str, tmp_path: Path
) -> None:
    first = tmp_path / "notes.txt"
    first.write_text("version one")
    name = f"notes-{session}.txt"
    pushed = served.json("push", str(first), "--name", name, "--session", session)
    assert pushed["content_type"] == "text/plain"
    second = tmp_path / "v2.bin"
    second.write_bytes(b"version two")
    # By name; the file's own name (.bin) does not change the artifact's type.
    v2 = served.json("push-version", name, str(second))
    assert (v2["id"], v2["version"], v2["content_type"]) == (pushed["id"], 2, "text/plain")
    v3 = served.json("push-version", pushed["id"], str(second), "--type", "application/x-notes")
    assert (v3["version"], v3["content_type"]) == (3, "application/x-notes")

    found = served.json("lookup", f"{name}:v1")
    assert (found["artifact_id"], found["version"]) == (pushed["id"], 1)
    assert served.json("lookup", f"{name}:latest")["version"] == 3
    assert served.ok("lookup", name).split() == [pushed["id"], name, "v3"]
    assert served.ok("pull", f"{name}:v1", "-o", "-") == "version one"
    assert served.ok("pull", name, "-o", "-") == "version two"
    pulled = served.json("pull", f"{name}:v2", "-o", str(tmp_path / "out"))
    assert pulled["version"] == 2 and Path(pulled["path"]).read_bytes() == b"version two"
    assert served.json("get", name)["version"] == 3
    assert [v["version"] for v in served.json("versions", f"{name}:latest")] == [1, 2, 3]

    missing = served.run("lookup", f"{name}:v7")
    assert missing.exit_code == 4 and "version_not_found" in missing.stderr
    assert served.run("get", "no-such-name.txt").exit_code == 4


# ---------------------------------------------------------------------------- more commands


def test_search_lineage_pin_and_link_revocation(
    served: Served, session: str, tmp_path: Path
) -> None:
    path = tmp_path / "q.txt"
    path.write_text("quarterly numbers")
    kind = f"kind-{session}"
    pushed = served.json("push", str(path), "--session", session, "--kind", kind)

    hits = served.json("search", "--kind", kind, "--mode", "structured")["data"]
    assert [hit["artifact"]["id"] for hit in hits] == [pushed["id"]]
    assert pushed["id"] in served.ok("search", "--kind", kind)

    graph = served.json("lineage", pushed["id"])
    assert (graph["artifact_id"], graph["upstream"], graph["downstream"]) == (pushed["id"], [], [])
    assert pushed["id"] in served.ok("lineage", "q.txt")

    assert served.json("pin", pushed["id"])["pinned"] is True
    assert served.json("get", pushed["id"])["pinned"] is True
    assert served.ok("unpin", pushed["id"]).strip() == f"unpinned {pushed['id']}"
    assert served.json("get", pushed["id"])["pinned"] is False

    link = served.json("link", pushed["id"])
    assert httpx.get(link["url"]).content == b"quarterly numbers"
    assert served.json("revoke-link", link["id"]) == {"link_id": link["id"], "revoked": True}
    assert httpx.get(link["url"]).status_code == 404


# ---------------------------------------------------------------------------- ls


def test_ls_json_has_next_cursor_and_pages_with_it(served: Served, session: str) -> None:
    for n in range(3):
        path = served.home / f"page-{n}-{session}.txt"
        path.write_text(str(n))
        served.json("push", str(path), "--session", session)
    first = served.json("ls", "--session", session, "--limit", "2")
    assert len(first["data"]) == 2 and isinstance(first["next_cursor"], str)
    rest = served.json("ls", "--session", session, "--limit", "2", "--cursor", first["next_cursor"])
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    names = [a["name"] for a in first["data"] + rest["data"]]
    assert names == [f"page-{n}-{session}.txt" for n in (2, 1, 0)]
    every = served.json("ls", "--session", session, "--all")
    assert len(every["data"]) == 3 and every["next_cursor"] is None


def test_ls_table_keeps_names_whole_at_80_columns(served: Served, session: str) -> None:
    names = ["quarterly-revenue-report-2026.pdf", "model-weights-final.safetensors"]
    for name in names:
        path = served.home / name
        path.write_bytes(b"x" * 1234)
        served.json("push", str(path), "--session", session)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    env |= {k: v for k, v in served.env(COLUMNS="80").items() if v is not None}
    done = subprocess.run(
        [sys.executable, "-m", "artifact_hub.cli.main", "ls", "--session", session],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, done.stdout
    for name in names:
        assert any(name in line for line in lines), done.stdout


# ---------------------------------------------------------------------------- data folder


WORKFLOW = {
    "id": "save-one",
    "steps": [
        {
            "id": "save",
            "agent": "artifact-saver",
            "input": {"result": "from a workflow", "name": "from-workflow.txt"},
            "retry": {"max_attempts": 2, "backoff": "exponential"},
        }
    ],
}


def test_hub_commands_find_the_running_hubs_data_folder(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    keys = served.run("admin", "list-keys", "--tenant", "default", "--json")
    assert keys.exit_code == 0, keys.output
    assert len(json.loads(keys.stdout)) >= 1
    assert str(served.data_dir) in keys.stderr  # it says which folder it took

    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(WORKFLOW))
    ran = served.run("workflow", "run", str(workflow), "--json")
    assert ran.exit_code == 0, ran.output
    saved = json.loads(ran.stdout)["steps"]["save"]["output"]["artifact_id"]
    # It ran against the live hub: the artifact is there over HTTP.
    assert served.json("get", saved)["name"] == "from-workflow.txt"
    assert not (elsewhere / ".artifact-hub").exists()


def test_without_a_hub_they_say_so_and_create_nothing(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    nowhere = {"XDG_RUNTIME_DIR": str(tmp_path / "no-hubs-here")}
    for args in (
        ("admin", "list-keys", "--tenant", "default"),
        ("workflow", "run", "--json", str(tmp_path / "wf.json")),
        ("sweep",),
    ):
        if args[0] == "workflow":
            (tmp_path / "wf.json").write_text(json.dumps(WORKFLOW))
        result = served.run(*args, **nowhere)
        assert result.exit_code == 2, (args, result.output)
        assert "--data-dir" in result.output and "artifact-hub serve" in result.output
        assert not (tmp_path / ".artifact-hub").exists(), args
    # An explicit folder is still taken (and made) as before.
    made = served.run("db", "upgrade", "--data-dir", str(tmp_path / "mine"), **nowhere)
    assert made.exit_code == 0, made.output
    assert (tmp_path / "mine" / "index.db").exists()


# ---------------------------------------------------------------------------- SDK and plans


def test_the_sync_client_takes_name_and_refuses_unknown_keywords(served: Served) -> None:
    from artifact_hub import Client

    with Client(api_key=served.key, base_url=served.url) as client:
        artifact = client.push(b"hello", name="hello.txt")
        assert (artifact.name, artifact.content_type) == ("hello.txt", "text/plain")
        with pytest.raises(TypeError, match="nmae"):
            client.push(b"hello", nmae="hello.txt")
        version = client.push_version(artifact.id, b"hello again")
        assert version.content_type == "text/plain"
        assert client.lookup("hello.txt:v1").version == 1


def test_admin_create_tenant_takes_the_default_plan(served: Served) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    data = ("--data-dir", str(served.data_dir))
    made = served.run("admin", "create-tenant", tenant, *data)
    assert made.exit_code == 0 and "plan unlimited" in made.stdout, made.output
    metered = served.run(
        "admin", "create-tenant", f"{tenant}m", *data, ARTIFACT_HUB_DEFAULT_PLAN="free"
    )
    assert metered.exit_code == 0 and "plan free" in metered.stdout, metered.output
