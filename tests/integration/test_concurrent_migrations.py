"""Several hub processes migrating one new, empty database at once (issue 15).

``docker compose up`` starts the API, the consumers and the relay together, and each applies
the migrations when it starts. Without a lock, all of them create the same tables at once and
all but one crash on PostgreSQL's catalog (``UniqueViolationError ...
pg_type_typname_nsp_index``). Here three real ``artifact-hub db upgrade`` processes (the path
every start takes: ``Database.migrate``) start together on a fresh database, a few rounds:
each must exit 0 without an error, and the database must end at the head revision.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from tests.services import PostgresServer

from artifact_hub.adapters.index.database import alembic_config

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
ROUNDS = 3
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
    for round_ in range(ROUNDS):
        folder = tmp_path / str(round_)
        _upgrade_at_once(folder, None)
        with sqlite3.connect(folder / "hub" / "index.db") as conn:
            versions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        assert versions == [_head()]
