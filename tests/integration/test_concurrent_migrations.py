"""Several hub processes migrating one new, empty database at once (issue 15).

``docker compose up`` starts the API, the consumers and the relay together, and each applies
the migrations when it starts. Without a lock, all of them create the same tables at once and
all but one crash on PostgreSQL's catalog (``UniqueViolationError ...
pg_type_typname_nsp_index``). Here three real ``artifact-hub db upgrade`` processes (the path
every start takes: ``Database.migrate``) start together on a fresh database, a few rounds:
each must exit 0 without an error, and the database must end at the head revision. Then three
``artifact-hub serve`` start together on a fresh PostgreSQL database, the whole start of a
hub, and each must answer ``/health``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from tests.services import PostgresServer, free_port

from artifact_hub.adapters.index.database import alembic_config

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
ROUNDS = 2
CLI = "import sys; from artifact_hub.cli import main; sys.exit(main())"

pytestmark = pytest.mark.timeout(120)


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade_at_once(tmp_path: Path, database_url: str | None) -> None:
    """Start PROCESSES ``artifact-hub db upgrade`` together; each must exit 0 cleanly."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if database_url is not None:
        env["ARTIFACT_HUB_DATABASE_URL"] = database_url
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLI, "db", "upgrade", "--data-dir", str(tmp_path / "hub")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        results = [(p.wait(60), p.stderr.read().decode() if p.stderr else "") for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    for code, stderr in results:
        assert code == 0, stderr
        assert "Error" not in stderr and "Traceback" not in stderr, stderr


async def _pg_version(server: PostgresServer, name: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(**server._connect_kwargs(name))
    try:
        return [row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await conn.close()


def test_three_processes_migrate_one_new_postgres_database_at_once(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        name = postgres_server.create_database("ah_migrate_")
        try:
            _upgrade_at_once(tmp_path / str(round_), postgres_server.url(name))
            assert asyncio.run(_pg_version(postgres_server, name)) == [_head()]
        finally:
            postgres_server.drop_database(name)


def test_three_processes_migrate_one_new_sqlite_database_at_once(tmp_path: Path) -> None:
    # One round: SQLite's write lock (BEGIN IMMEDIATE) serializes them without an extra lock.
    _upgrade_at_once(tmp_path, None)
    with sqlite3.connect(tmp_path / "hub" / "index.db") as conn:
        versions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    assert versions == [_head()]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_three_hubs_start_serving_on_one_new_postgres_database_at_once(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    name = postgres_server.create_database("ah_serve_")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "ARTIFACT_HUB_DATABASE_URL": postgres_server.url(name),
        "ARTIFACT_HUB_SIGNING_SECRET": "concurrent-start-test-signing-secret-0123456789",
    }
    ports = [free_port() for _ in range(PROCESSES)]
    logs = [tmp_path / f"hub{i}.log" for i in range(PROCESSES)]
    processes = [
        subprocess.Popen(
            [
                *(sys.executable, "-c", CLI, "serve", "--port", str(port), "--workers", "1"),
                *("--data-dir", str(tmp_path / f"hub{i}")),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),  # noqa: SIM115 - the child owns it
        )
        for i, (port, log) in enumerate(zip(ports, logs, strict=True))
    ]
    try:
        deadline = time.monotonic() + 60
        waiting = set(range(PROCESSES))
        while waiting and time.monotonic() < deadline:
            for i in list(waiting):
                assert processes[i].poll() is None, logs[i].read_text()
                if _healthy(ports[i]):
                    waiting.discard(i)
            time.sleep(0.1)
        assert not waiting, [logs[i].read_text() for i in waiting]
        assert asyncio.run(_pg_version(postgres_server, name)) == [_head()]
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        postgres_server.drop_database(name)
    for log in logs:
        text = log.read_text()
        assert "Traceback" not in text and "ERROR" not in text, text
