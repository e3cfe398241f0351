"""The ``artifact-hub`` command line, as a user types it, against a live ``artifact-hub serve``.

One hub runs per module as a subprocess on a free loopback port with its own data folder; its
first API key comes from ``data_dir/bootstrap-key.txt``, where ``serve`` writes it on an empty
folder. The artifact commands run in-process through typer's ``CliRunner`` with
``ARTIFACT_HUB_URL`` and ``ARTIFACT_HUB_API_KEY`` in the environment, the way the SDK and the
CLI read them. ``HOME`` points at an empty folder so a developer's
``~/.config/artifact-hub/config.toml`` cannot leak in.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from artifact_hub import Client
from artifact_hub.cli import app, remote, remote_common
from artifact_hub.cli.main import EXIT_CODES, HUB_UNREACHABLE
from artifact_hub.core.errors import AuthenticationError, InvalidRequestError

runner = CliRunner()


@dataclass
class LiveHub:
    url: str
    key: str
    data_dir: Path
    home: Path
    log: Path | None = None
    """The output of ``serve`` (when this module's fixture started it)."""

    def env(self, **changes: str | None) -> dict[str, str | None]:
        """The environment of a CLI call (``None`` unsets a variable)."""
        base: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("ARTIFACT_HUB_")
        }
        base |= {
            "ARTIFACT_HUB_URL": self.url,
            "ARTIFACT_HUB_API_KEY": self.key,
            "HOME": str(self.home),
        }
        return base | changes

    def run(self, *args: str, **env: str | None) -> Result:
        return runner.invoke(app, list(args), env=self.env(**env))

    def ok(self, *args: str, **env: str | None) -> str:
        result = self.run(*args, **env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout

    def json(self, *args: str, **env: str | None) -> Any:
        return json.loads(self.ok(*args, "--json", **env))

    def fails(self, code: int, *args: str, **env: str | None) -> Result:
        result = self.run(*args, **env)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert result.stdout == ""
        return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    root = tmp_path_factory.mktemp("cli")
    data_dir = root / "hub"
    home = root / "home"
    home.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    # The MiniLM model would take ~13 s of CPU to load per hub; search has its own tests.
    env["ARTIFACT_HUB_SEARCH_EMBEDDER"] = "hashing"
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artifact_hub.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env | {"HOME": str(home)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
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
        yield LiveHub(url=url, key=key, data_dir=data_dir, home=home, log=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def session() -> str:
    """A session of the test's own, so tests on the shared hub do not see each other."""
    return f"ses_cli_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text("quarterly numbers")
    return path


# ---------------------------------------------------------------------------- the hub


def test_serve_answers_health_on_loopback(hub: LiveHub) -> None:
    response = httpx.get(f"{hub.url}/health", timeout=2)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["index"] == "sqlite"
    missing = httpx.get(f"{hub.url}/v0/nothing", timeout=2)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (hub.data_dir / "index.db").exists()
    key_file = hub.data_dir / "bootstrap-key.txt"
    assert hub.key.startswith("ak_live_")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_serve_says_where_the_web_console_is_and_it_answers(hub: LiveHub) -> None:
    assert hub.log is not None
    line = next(x for x in hub.log.read_text().splitlines() if "web console on" in x)
    console = line.split("web console on ", 1)[1].split()[0]
    assert console == f"{hub.url}/console/"
    page = httpx.get(console, timeout=5)  # not signed in: the sign-in page
    assert page.status_code == 200 or page.is_redirect
    final = httpx.get(console, timeout=5, follow_redirects=True)
    assert final.status_code == 200 and "API key" in final.text


def test_db_upgrade_works_locally(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "local")])
    assert result.exit_code == 0, result.output
    assert "migrated" in result.stderr and (tmp_path / "local" / "index.db").exists()


# ---------------------------------------------------------------------------- account, sessions


def test_whoami_and_session_new(hub: LiveHub) -> None:
    me = hub.json("whoami")
    assert me["agent_id"] == "agent" and me["tenant_id"] == "default"
    assert me["url"] == hub.url and me["plan"] == "unlimited"
    text = hub.ok("whoami")
    assert "agent agent of tenant default" in text and hub.url in text

    # session new makes its id locally: it works with no hub at all
    nowhere = f"http://127.0.0.1:{_free_port()}"
    made = hub.ok("session", "new", ARTIFACT_HUB_URL=nowhere).strip()
    assert made.startswith("ses_") and len(made) == 20
    again = hub.json("session", "new", ARTIFACT_HUB_URL=nowhere)["session_id"]
    assert again.startswith("ses_") and again != made


def test_global_options_override_the_environment(hub: LiveHub) -> None:
    nowhere = f"http://127.0.0.1:{_free_port()}"
    me = json.loads(
        hub.ok("--url", hub.url, "--api-key", hub.key, "whoami", "--json", ARTIFACT_HUB_URL=nowhere)
    )
    assert me["url"] == hub.url
    hub.fails(EXIT_CODES[AuthenticationError], "--api-key", "ak_live_bad_key", "whoami")


# ---------------------------------------------------------------------------- artifacts


def test_push_ls_get_pull_versions(
    hub: LiveHub, session: str, report: Path, tmp_path: Path
) -> None:
    pushed = hub.json(
        "push",
        str(report),
        "--name",
        "q4.txt",
        "--session",
        session,
        "--agent",
        "agent",
        "--type",
        "text/markdown",
        "--kind",
        "report",
        "--meta",
        "model=m1",
        "--meta",
        "score=3",
        "--label",
        "stage=draft",
        "--tag",
        "q4",
        "--tag",
        "finance",
        "--ttl",
        "3600",
    )
    art = pushed["id"]
    assert art.startswith("art_") and pushed["artifact_id"] == art
    assert pushed["name"] == "q4.txt" and pushed["content_type"] == "text/markdown"
    assert pushed["session_id"] == session and pushed["agent_id"] == "agent"
    assert pushed["metadata"] == {"model": "m1", "score": 3}
    assert pushed["labels"] == {"stage": "draft"} and sorted(pushed["tags"]) == ["finance", "q4"]
    assert pushed["kind"] == "report" and pushed["size_bytes"] == len("quarterly numbers")
    assert pushed["expires_at"] is not None

    line = hub.ok("push", str(report), "--session", session, "--ttl", "never")
    other, name = line.split()[:2]
    assert other.startswith("art_") and name == "report.txt" and "sha256" in line

    # ls: filters, limit, --all, and the default session from the environment
    listed = hub.json("ls", "--session", session)["data"]
    assert [a["id"] for a in listed] == [other, art]  # newest first
    assert [
        a["id"] for a in hub.json("ls", "--session", session, "--meta", "model=m1")["data"]
    ] == [art]
    assert hub.json("ls", "--session", session, "--meta", "model=other")["data"] == []
    assert [
        a["id"] for a in hub.json("ls", "--session", session, "--type", "text/plain")["data"]
    ] == [other]
    assert len(hub.json("ls", "--session", session, "--agent", "agent")["data"]) == 2
    assert hub.json("ls", "--session", session, "--agent", "nobody")["data"] == []
    assert len(hub.json("ls", ARTIFACT_HUB_SESSION_ID=session)["data"]) == 2
    one = hub.run("ls", "--session", session, "--limit", "1")
    assert one.exit_code == 0 and other in one.stdout and art not in one.stdout
    assert "--cursor" in one.stderr  # where the next page starts
    everything = hub.json("ls", "--session", "*", "--all")["data"]
    assert {art, other} <= {a["id"] for a in everything}
    table = hub.ok("ls", "--session", session)
    assert art in table and other in table

    # get
    got = hub.json("get", art)
    assert got["id"] == art and got["metadata"] == {"model": "m1", "score": 3}
    shown = hub.ok("get", art)
    assert art in shown and "q4.txt" in shown and "model" in shown

    # a second version through the SDK, then pull and versions
    with Client(api_key=hub.key, base_url=hub.url) as client:
        client.push_version(art, b"revised numbers")
    folder = tmp_path / "out"
    folder.mkdir()
    path = hub.ok("pull", art, "-o", str(folder)).strip()
    assert Path(path) == folder / "q4.txt" and Path(path).read_text() == "revised numbers"
    first = tmp_path / "v1.txt"
    pulled = hub.json("pull", art, "-o", str(first), "--version", "1")
    assert pulled == {
        "artifact_id": art,
        "version": 1,
        "path": str(first),
        "size_bytes": len("quarterly numbers"),
    }
    assert first.read_text() == "quarterly numbers"
    assert hub.ok("pull", art, "-o", "-", "--version", "1") == "quarterly numbers"

    rows = hub.json("versions", art)
    assert [r["version"] for r in rows] == [1, 2]
    assert rows[1]["size_bytes"] == len("revised numbers") and len(rows[0]["sha256"]) == 64
    assert "version" in hub.ok("versions", art)


def test_link_ttl_rm(hub: LiveHub, session: str, report: Path) -> None:
    art = hub.json("push", str(report), "--session", session)["id"]

    url = hub.ok("link", art, "--expires-in", "60").strip()
    downloaded = httpx.get(url, timeout=5, follow_redirects=True)  # no API key needed
    assert downloaded.status_code == 200 and downloaded.text == "quarterly numbers"
    made = hub.json("link", art)
    assert made["id"].startswith("lnk_") and made["artifact_id"] == art and made["url"]

    assert hub.ok("ttl", art, "never").strip() == f"{art} never expires"
    assert hub.json("ttl", art, "never")["expires_at"] is None
    assert hub.json("ttl", art, "120")["expires_at"] is not None
    assert "expires at" in hub.ok("ttl", art, "2h")
    hub.fails(EXIT_CODES[InvalidRequestError], "ttl", art, "soon")

    assert hub.ok("rm", art).strip() == f"deleted {art}"
    gone = hub.fails(5, "get", art)
    assert "artifact_already_deleted" in gone.stderr
    hub.fails(5, "rm", art)
    other = hub.json("push", str(report), "--session", session)["id"]
    deleted = hub.json("rm", other)
    assert deleted["id"] == other and deleted["deleted_at"] is not None


def test_share_and_unshare_with_a_second_key(hub: LiveHub, session: str, report: Path) -> None:
    admin = ["admin", "create-key", "--data-dir", str(hub.data_dir), "--tenant", "default"]
    created = runner.invoke(app, [*admin, "--agent", "bob", "--group", "analysts"], env=hub.env())
    assert created.exit_code == 0, created.output
    bob_key = created.stdout.strip().splitlines()[-1]
    assert bob_key.startswith("ak_live_")
    art = hub.json("push", str(report), "--session", session)["id"]

    def bob_sees() -> bool:
        listed = hub.json("ls", "--session", session, ARTIFACT_HUB_API_KEY=bob_key)["data"]
        return art in {a["id"] for a in listed}

    assert hub.json("whoami", ARTIFACT_HUB_API_KEY=bob_key)["agent_id"] == "bob"
    assert not bob_sees()
    hub.fails(4, "get", art, ARTIFACT_HUB_API_KEY=bob_key)

    access = hub.json("share", art, "--agent", "bob")
    assert access["artifact_id"] == art and access["agents"] == ["bob"]
    assert bob_sees()
    assert hub.ok("pull", art, "-o", "-", ARTIFACT_HUB_API_KEY=bob_key) == "quarterly numbers"
    # bob can read, not delete
    hub.fails(3, "rm", art, ARTIFACT_HUB_API_KEY=bob_key)

    assert "agents: -" in hub.ok("unshare", art, "--agent", "bob")
    assert not bob_sees()

    assert "groups: analysts" in hub.ok("share", art, "--group", "analysts")
    assert bob_sees()
    access = hub.json("unshare", art, "--group", "analysts")
    assert access["groups"] == [] and access["agents"] == []
    assert not bob_sees()
    hub.fails(2, "share", art)  # neither --agent nor --group


# ---------------------------------------------------------------------------- errors


def test_exit_codes_and_hints(hub: LiveHub, session: str, report: Path) -> None:
    missing = "art_aaaaaaaaaaaaaaaa"
    for command in (["get", missing], ["pull", missing, "-o", "-"], ["versions", missing]):
        result = hub.fails(4, *command)
        assert "artifact_not_found" in result.stderr and "artifact-hub ls" in result.stderr

    assert hub.json("push", str(report), "--session", session)["session_id"] == session
    sealed = hub.json("seal", session)
    assert sealed["session_id"] == session and sealed["sealed_at"] is not None
    assert hub.ok("seal", session).startswith(f"sealed {session} at ")
    result = hub.fails(6, "push", str(report), "--session", session)
    assert "session_sealed" in result.stderr and "artifact-hub session new" in result.stderr
    result = hub.fails(6, "push", str(report), "--session", session, "--json")
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "session_sealed" and error["exit_code"] == 6 and error["hint"]

    for env in ({"ARTIFACT_HUB_API_KEY": "ak_live_nope_nope"}, {"ARTIFACT_HUB_API_KEY": None}):
        result = hub.fails(3, "ls", **env)
        assert "unauthorized" in result.stderr
        assert "ARTIFACT_HUB_API_KEY" in result.stderr and "--api-key" in result.stderr
        assert "artifact-hub admin create-key" in result.stderr
    hub.fails(3, "push", str(report), "--agent", "someone-else")  # not the key's agent

    hub.fails(2, "push", str(report), "--meta", "no-equals-sign")
    hub.fails(2, "push", str(report), "--ttl", "0")

    down = f"http://127.0.0.1:{_free_port()}"
    result = hub.fails(HUB_UNREACHABLE, "ls", "--json", ARTIFACT_HUB_URL=down)
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "hub_unreachable" and error["exit_code"] == 10
    assert down in error["message"]
    assert "ARTIFACT_HUB_URL" in error["hint"] and "artifact-hub serve" in error["hint"]


def test_progress_bars_only_on_a_terminal_and_never_with_json(
    hub: LiveHub, session: str, report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CliRunner's stderr is no terminal: nothing but results
    plain = hub.run("push", str(report), "--session", session)
    assert plain.exit_code == 0 and plain.stderr == ""

    monkeypatch.setattr(sys, "stderr", _Tty())
    assert remote._show_progress(as_json=False)
    assert not remote._show_progress(as_json=True)

    monkeypatch.setattr(remote_common, "_show_progress", lambda as_json: not as_json)
    pushed = hub.run("push", str(report), "--session", session)
    assert pushed.exit_code == 0 and "report.txt" in pushed.stderr and "bytes" in pushed.stderr
    art = pushed.stdout.split()[0]
    pulled = hub.run("pull", art, "-o", "-")
    assert pulled.stdout == "quarterly numbers" and f"{art}" in pulled.stderr
    quiet = hub.run("push", str(report), "--session", session, "--json")
    assert quiet.exit_code == 0 and quiet.stderr == "" and json.loads(quiet.stdout)["id"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True
