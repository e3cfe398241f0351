"""Listing at depth: one page of 200 among a million artifacts, first page and deep pages.

    PYTHONPATH=src python bench/bench_list.py                  # 1,000,000 artifacts on SQLite
    PYTHONPATH=src python bench/bench_list.py --rows 20000     # quick
    PYTHONPATH=src python bench/bench_list.py --postgres postgresql://postgres@127.0.0.1:5432/test

The index is filled with ``--rows`` artifacts of one tenant (a tenth of them in one session),
written straight into a migrated database with executemany. Then each page is read as the API
reads it: ``ArtifactService.list`` (the keyset query and the models of the page), the
median of ``--repeat`` reads, for the first page, a page in the middle and the last page,
with and without a session filter. The baseline is the same rows read with a bare
``SELECT * ... ORDER BY ... LIMIT 200`` through the DB-API driver (sqlite3 / asyncpg) at the
same depth: what any ORM-free server would have to do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import Row, machine_facts, print_facts, print_json, print_table, progress

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.queries import ArtifactFilter, IndexReader, encode_cursor
from artifact_hub.adapters.index.stores.artifacts import SqlArtifactStore
from artifact_hub.adapters.index.stores.events import SqlEventLog
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import ArtifactService

PAGE = 200
TENANT = "bench"
AGENT = "agent"


def _rows(count: int, start: datetime) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        created = start + timedelta(milliseconds=i)
        rows.append(
            {
                "artifact_id": f"art_{i:016d}",
                "tenant_id": TENANT,
                "namespace": "default",
                "name": f"f{i}.json",
                "agent_id": AGENT,
                "session_id": "hot" if i % 10 == 0 else f"s{i // 1000}",
                "content_type": "application/json",
                "version": 1,
                "sha256": f"{i:064x}",
                "size_bytes": 4096,
                "metadata": {"i": i},
                "labels": {},
                "tags": [],
                "metrics": {},
                "pinned": False,
                "created_at": created,
                "updated_at": created,
                "revision": 1,
            }
        )
    return rows


async def _fill(db: Database, count: int) -> list[datetime]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(milliseconds=i) for i in range(count)]
    chunk = 20_000
    for offset in range(0, count, chunk):
        rows = _rows(min(chunk, count - offset), start + timedelta(milliseconds=offset))
        for j, row in enumerate(rows):
            row["artifact_id"] = f"art_{offset + j:016d}"
            row["session_id"] = "hot" if (offset + j) % 10 == 0 else f"s{(offset + j) // 1000}"
        async with db.begin() as conn:
            await conn.execute(t.artifacts.insert(), rows)
        progress(f"  {offset + len(rows):,} rows")
    return stamps


async def _median_ms(work: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _bench(url: str, rows: int, repeat: int) -> list[Row]:
    db = Database(url)
    await db.migrate()
    progress(f"filling {url.split('@')[-1]} with {rows:,} artifacts")
    stamps = await _fill(db, rows)
    if db.dialect == "postgresql":
        async with db.begin() as conn:
            await conn.exec_driver_sql("ANALYZE artifacts")
    else:
        async with db.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    service = ArtifactService(
        db,
        LocalBlobStore(Path(tempfile.mkdtemp())),
        reader=IndexReader(),
        store=SqlArtifactStore(),
        events=SqlEventLog(),
    )
    caller = Caller(tenant_id=TENANT, agent_id=AGENT)
    result: list[Row] = []
    hot = [i for i in range(rows) if i % 10 == 0]
    cases = [
        ("all", None, [rows - 1, rows // 2, PAGE]),
        ("session", "hot", [hot[-1], hot[len(hot) // 2], hot[PAGE]]),
    ]
    raw = _raw_reader(db)
    for label, session, positions in cases:
        for where, position in zip(("first", "middle", "last"), positions, strict=True):
            cursor = None
            if where != "first":
                cursor = encode_cursor(stamps[position], f"art_{position:016d}")

            async def hub(cursor: str | None = cursor, session: str | None = session) -> None:
                page = await service.list(
                    caller, ArtifactFilter(session_id=session), limit=PAGE, cursor=cursor
                )
                assert page.items

            async def base(
                position: int = position, where: str = where, session: str | None = session
            ) -> None:
                found = await raw(session, None if where == "first" else position, stamps)
                assert found

            hub_ms = await _median_ms(hub, repeat)
            base_ms = await _median_ms(base, repeat)
            result.append(
                Row(
                    key=f"{db.dialect}-{label}-{where}",
                    metric=f"{db.dialect}: page of {PAGE}, {label}, {where} page",
                    unit="pages/s",
                    hub=1000 / hub_ms,
                    baseline_label="bare SELECT through the driver",
                    baseline=1000 / base_ms,
                    hub_samples=(round(hub_ms, 3),),
                    baseline_samples=(round(base_ms, 3),),
                )
            )
            progress(f"  {label} {where}: hub {hub_ms:.2f} ms, bare {base_ms:.2f} ms")
    await db.dispose()
    return result


def _raw_reader(db: Database) -> Any:
    """A bare keyset query through the engine's raw connection (no ORM, no models)."""
    sqlite = db.dialect == "sqlite"
    mark = (lambda n: f"?{n}") if sqlite else (lambda n: f"${n}")

    async def read(session: str | None, position: int | None, stamps: list[datetime]) -> list[Any]:
        where = [f"tenant_id = {mark(1)}"]
        args: list[Any] = [TENANT]
        if session is not None:
            args.append(session)
            where.append(f"session_id = {mark(len(args))}")
        if position is not None:
            created = stamps[position]
            # SQLite keeps SQLAlchemy's DATETIME text (naive UTC, a space before the time).
            stored = created.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            args += [stored if sqlite else created.replace(tzinfo=None), f"art_{position:016d}"]
            n = len(args)
            where.append(
                f"(created_at < {mark(n - 1)} OR (created_at = {mark(n - 1)} "
                f"AND artifact_id < {mark(n)}))"
            )
        sql = (
            f"SELECT * FROM artifacts WHERE {' AND '.join(where)} "
            f"ORDER BY created_at DESC, artifact_id DESC LIMIT {PAGE + 1}"
        )
        async with db.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if sqlite:
                cursor = await driver.execute(sql, args)
                return list(await cursor.fetchall())
            return list(await driver.fetch(sql, *args))

    return read


async def _main(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="artifact-hub-bench-list-") as folder:
        rows += await _bench(f"sqlite:///{folder}/index.db", args.rows, args.repeat)
    if args.postgres:
        rows += await _bench(args.postgres, args.rows, args.repeat)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--postgres", help="also on this (empty, disposable) PostgreSQL database")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    facts = machine_facts(Path(tempfile.gettempdir()))
    rows = asyncio.run(_main(args))
    print_facts(facts)
    print_table(rows)
    print("\nPer page (median ms), artifact-hub's service.list vs the bare SELECT:")
    for row in rows:
        print(f"  {row.metric}: {row.hub_samples[0]:.2f} ms vs {row.baseline_samples[0]:.2f} ms")
    if args.json:
        payload = {"facts": facts, "rows": [row.as_dict() for row in rows]}
        print_json(payload | {"params": {"rows": args.rows, "repeat": args.repeat}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
