"""Core write/read-path benchmark: each artifact-hub figure beside a raw baseline, in one run.

Run from the repository root::

    PYTHONPATH=src python bench/bench_core.py [--size-mib 1024] [--small-count 2000]
        [--events 5000] [--workdir DIR] [--json]

Three parts, each timed against plain Python / plain ``sqlite3`` doing the same I/O on the
same disk in the same run:

1. Large blob: ``ArtifactService.push(caller, path)`` and ``pull_to`` of one ``--size-mib``
   file on the embedded hub (local blob store + SQLite), against copying the file in 1 MiB
   chunks with sha256 + fsync, and reading it back with sha256.
2. Small pushes: ``--small-count`` distinct 4 KiB blobs through ``ArtifactService.push``,
   against inserting the same rows into a fresh SQLite ``artifacts`` table (one transaction
   per row, and one batched transaction) and writing 4 KiB files with fsync.
3. Projection: ``--events`` created/versioned/shared events through ``IndexProjector.apply``
   (one event per transaction, and 100 per transaction) and through ``BatchProjection`` (the
   index consumer's set-based path, 100 per transaction), against ``executemany`` of the rows
   those events leave in the same tables.

Page caches are not dropped: the input file is read from memory by both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    Row,
    machine_facts,
    print_facts,
    print_json,
    print_table,
    progress,
    stopwatch,
)
from sqlalchemy import Table, create_engine

from artifact_hub.adapters.index import Database, IndexProjector
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.batch_projector import BatchProjection
from artifact_hub.adapters.index.projector import event_digest
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactShared,
    ArtifactVersioned,
    Caller,
    EventBase,
    Principal,
)

CHUNK = 1024 * 1024
SMALL_BLOB = 4096
PROJECTION_BATCH = 100
MB = 1_000_000  # throughput is in MB/s (10^6 bytes per second)

CALLER = Caller(tenant_id="bench", agent_id="bench-agent", namespace="bench")

# The row keys every full run prints (the smoke test holds the bench to them).
ROW_KEYS = (
    "push_large",
    "pull_large_read",
    "pull_large_copy",
    "small_push_sqlite_row_txn",
    "small_push_sqlite_batch",
    "small_push_file_fsync",
    "small_push_file_fsync_row_txn",
    "projection_1_vs_row_txn",
    "projection_1_vs_batch",
    "projection_100_vs_batch",
    "projection_set_100_vs_batch",
)


# ------------------------------------------------------------------------------ plumbing


def hub_at(data_dir: Path) -> Hub:
    """The embedded hub (local blobs, SQLite, in-process events) under ``data_dir``.

    Every setting that decides the backends is passed, so ``ARTIFACT_HUB_*`` variables in the
    environment cannot turn this into a benchmark of something else.
    """
    return bootstrap(
        data_dir=data_dir,
        default_ttl_seconds=None,
        database_url=None,
        blob_store="local",
        blob_dir=None,
        event_bus="inprocess",
        run_relay=True,
    )


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the pragmas the hub's ``Database`` sets."""
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def fresh_schema(path: Path) -> None:
    """A new SQLite file with the index's tables, made by ``metadata.create_all``."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        t.metadata.create_all(engine)
    finally:
        engine.dispose()


def insert_sql(table: Table) -> str:
    """``INSERT INTO table (every column) VALUES (:every, :column)``."""
    names = [c.name for c in table.columns]
    columns = ", ".join(f'"{n}"' for n in names)
    params = ", ".join(f":{n}" for n in names)
    return f'INSERT INTO "{table.name}" ({columns}) VALUES ({params})'


def sql_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC text)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def random_sha() -> str:
    return os.urandom(32).hex()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ 1. large blob


def make_input(path: Path, size: int) -> None:
    """``size`` random bytes, written in 1 MiB chunks (never whole in memory)."""
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(CHUNK, left)
            out.write(os.urandom(n))
            left -= n
        out.flush()
        os.fsync(out.fileno())


def raw_copy(src: Path, dst: Path, *, durable: bool) -> tuple[float, str]:
    """Copy in 1 MiB chunks while hashing; fsync the copy when ``durable``."""
    digest = hashlib.sha256()
    with stopwatch() as watch, src.open("rb") as reader, dst.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        if durable:
            os.fsync(writer.fileno())
    return watch.seconds, digest.hexdigest()


def raw_read(path: Path) -> tuple[float, str]:
    """Read in 1 MiB chunks while hashing."""
    digest = hashlib.sha256()
    with stopwatch() as watch, path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return watch.seconds, digest.hexdigest()


@dataclass(frozen=True)
class LargeResult:
    push_s: float
    pull_s: float
    drain_s: float


async def hub_large(data_dir: Path, src: Path, out: Path, expected_sha: str) -> LargeResult:
    async with hub_at(data_dir) as hub:
        with stopwatch() as push:
            artifact = await hub.service.push(CALLER, src)
        if artifact.sha256 != expected_sha:
            raise RuntimeError(f"hub stored {artifact.sha256}, the file is {expected_sha}")
        with stopwatch() as pull:
            await hub.service.pull_to(CALLER, artifact.artifact_id, out)
        with stopwatch() as drain:
            await hub.relay.drain(timeout=60)
    return LargeResult(push.seconds, pull.seconds, drain.seconds)


@dataclass(frozen=True)
class RawLargeResult:
    write_s: float
    read_s: float
    copy_s: float


def raw_large(workdir: Path, src: Path) -> tuple[RawLargeResult, str]:
    copy = workdir / "raw-copy.bin"
    copy2 = workdir / "raw-copy-2.bin"
    write_s, sha = raw_copy(src, copy, durable=True)
    read_s, read_sha = raw_read(copy)
    copy_s, copy_sha = raw_copy(copy, copy2, durable=False)
    copy.unlink()
    copy2.unlink()
    if not sha == read_sha == copy_sha:
        raise RuntimeError("the raw baselines disagree about the file's sha256")
    return RawLargeResult(write_s, read_s, copy_s), sha


def bench_large(workdir: Path, size: int, repeat: int, notes: list[str]) -> list[Row]:
    src = workdir / "input.bin"
    progress(f"large: writing a {size / 2**20:.0f} MiB random input file")
    make_input(src, size)
    expected = hashlib.sha256()
    with src.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            expected.update(chunk)
    sha = expected.hexdigest()

    raws: list[RawLargeResult] = []
    hubs: list[LargeResult] = []
    for round_ in range(repeat):
        # Alternate who goes first: the first big write of a run is often slower (fresh
        # page-cache pages on a VM), and neither side should always pay for it.
        order = ("raw", "hub") if round_ % 2 == 0 else ("hub", "raw")
        for side in order:
            progress(f"large: round {round_ + 1}/{repeat}, {side}")
            if side == "raw":
                raw, raw_sha = raw_large(workdir, src)
                if raw_sha != sha:
                    raise RuntimeError("the raw copy hashes differently from the input")
                raws.append(raw)
            else:
                data_dir = workdir / "hub-large"
                pulled = workdir / "pulled.bin"
                hubs.append(asyncio.run(hub_large(data_dir, src, pulled, sha)))
                if pulled.stat().st_size != size:
                    raise RuntimeError("pull_to wrote a file of the wrong size")
                pulled.unlink()
                shutil.rmtree(data_dir)
    src.unlink()

    mb = size / MB

    def rates(seconds: Iterable[float]) -> tuple[float, ...]:
        return tuple(mb / s for s in seconds)

    push = rates(h.push_s for h in hubs)
    pull = rates(h.pull_s for h in hubs)
    write = rates(r.write_s for r in raws)
    read = rates(r.read_s for r in raws)
    copy = rates(r.copy_s for r in raws)

    def listed(values: tuple[float, ...]) -> str:
        return ", ".join(f"{v:.0f}" for v in values)

    notes.append(
        f"large: best of {repeat} alternating rounds (each round: a fresh hub, a fresh copy). "
        f"MB/s per round: push {listed(push)} | copy+fsync {listed(write)} | pull_to "
        f"{listed(pull)} | read {listed(read)} | read+write {listed(copy)}. Hub push = read, "
        "sha256, write tmp, fsync, rename, fsync dirs, one index transaction; pull_to = "
        "verify sha256 while writing a temp file (no fsync), rename. Relay drain after pull "
        f"(not counted): {max(h.drain_s for h in hubs) * 1000:.0f} ms at most."
    )
    label = f"{size / 2**20:.0f} MiB file"
    return [
        Row(
            "push_large",
            f"push {label}",
            "MB/s",
            max(push),
            "copy 1 MiB chunks+sha256+fsync",
            max(write),
            push,
            write,
        ),
        Row(
            "pull_large_read",
            f"pull_to {label}",
            "MB/s",
            max(pull),
            "read 1 MiB chunks+sha256",
            max(read),
            pull,
            read,
        ),
        Row(
            "pull_large_copy",
            f"pull_to {label}",
            "MB/s",
            max(pull),
            "read+sha256+write, no fsync",
            max(copy),
            pull,
            copy,
        ),
    ]


# ------------------------------------------------------------------------------ 2. small pushes


@dataclass(frozen=True)
class SmallResult:
    push_s: float
    drain_s: float


async def hub_small(data_dir: Path, blobs: Sequence[bytes]) -> SmallResult:
    async with hub_at(data_dir) as hub:
        with stopwatch() as push:
            for i, blob in enumerate(blobs):
                await hub.service.push(CALLER, blob, name=f"blob-{i:06d}.bin")
        with stopwatch() as drain:
            await hub.relay.drain(timeout=300)
    return SmallResult(push.seconds, drain.seconds)


def artifact_row(i: int, sha: str, size: int, now: datetime) -> dict[str, Any]:
    """An ``artifacts`` row as ``IndexProjector`` writes it for a fresh push."""
    row: dict[str, Any] = {c.name: None for c in t.artifacts.columns}
    row.update(
        artifact_id=f"art_{i:016d}",
        tenant_id=CALLER.tenant_id,
        namespace=CALLER.namespace,
        name=f"blob-{i:06d}.bin",
        agent_id=CALLER.agent_id,
        version=1,
        sha256=sha,
        size_bytes=size,
        metadata="{}",
        labels="{}",
        tags="[]",
        metrics="{}",
        pinned=0,
        created_at=sql_time(now),
        updated_at=sql_time(now),
        revision=1,
    )
    return row


def raw_inserts(path: Path, rows: Sequence[dict[str, Any]], *, per_row: bool) -> float:
    fresh_schema(path)
    sql = insert_sql(t.artifacts)
    conn = sqlite_connect(path)
    try:
        with stopwatch() as watch:
            if per_row:
                for row in rows:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(sql, row)
                    conn.execute("COMMIT")
            else:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
    finally:
        conn.close()
    return watch.seconds


def write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def raw_files(directory: Path, blobs: Sequence[bytes], shas: Sequence[str]) -> float:
    directory.mkdir()
    with stopwatch() as watch:
        for blob, sha in zip(blobs, shas, strict=True):
            write_file(directory / sha, blob)
    return watch.seconds


def raw_files_and_rows(
    directory: Path,
    db_path: Path,
    blobs: Sequence[bytes],
    shas: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> float:
    directory.mkdir()
    fresh_schema(db_path)
    sql = insert_sql(t.artifacts)
    conn = sqlite_connect(db_path)
    try:
        with stopwatch() as watch:
            for blob, sha, row in zip(blobs, shas, rows, strict=True):
                write_file(directory / sha, blob)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, row)
                conn.execute("COMMIT")
    finally:
        conn.close()
    return watch.seconds


def bench_small(workdir: Path, count: int, notes: list[str]) -> list[Row]:
    blobs = [os.urandom(SMALL_BLOB) for _ in range(count)]
    shas = [hashlib.sha256(b).hexdigest() for b in blobs]
    if len(set(shas)) != count:  # pragma: no cover - 4 KiB of urandom does not collide
        raise RuntimeError("random blobs collided")
    now = datetime.now(UTC)
    rows = [artifact_row(i, sha, SMALL_BLOB, now) for i, sha in enumerate(shas)]

    progress(f"small: raw sqlite inserts ({count} rows, one transaction each)")
    per_row_s = raw_inserts(workdir / "raw-row.db", rows, per_row=True)
    progress(f"small: raw sqlite inserts ({count} rows, one transaction)")
    batch_s = raw_inserts(workdir / "raw-batch.db", rows, per_row=False)
    progress(f"small: raw 4 KiB file writes + fsync ({count})")
    files_s = raw_files(workdir / "raw-files", blobs, shas)
    progress(f"small: raw file write + fsync + row insert ({count})")
    both_s = raw_files_and_rows(workdir / "raw-files-2", workdir / "raw-both.db", blobs, shas, rows)
    progress(f"small: hub push of {count} x 4 KiB")
    result = asyncio.run(hub_small(workdir / "hub-small", blobs))
    for name in ("raw-files", "raw-files-2", "hub-small"):
        shutil.rmtree(workdir / name)

    hub_rate = count / result.push_s
    label = "push 4 KiB blob"
    notes.append(
        "small: a hub push = blob (tmp file, fsync, rename, fsync dir) + one transaction "
        "(checks, artifacts/versions/labels/tags/processed_events rows, outbox row) + a read "
        "back of the artifact, with the relay publishing to the in-process consumer on the "
        f"same event loop; the relay drained {result.drain_s * 1000:.0f} ms after the last "
        "push (not counted). Raw rows go to the artifacts table only; SQLite pragmas as the "
        "hub's (WAL, synchronous=NORMAL)."
    )
    return [
        Row(
            "small_push_sqlite_row_txn",
            label,
            "ops/s",
            hub_rate,
            "sqlite INSERT, 1 txn/row",
            count / per_row_s,
        ),
        Row(
            "small_push_sqlite_batch",
            label,
            "ops/s",
            hub_rate,
            "sqlite executemany, 1 txn",
            count / batch_s,
        ),
        Row(
            "small_push_file_fsync",
            label,
            "ops/s",
            hub_rate,
            "write 4 KiB file + fsync",
            count / files_s,
        ),
        Row(
            "small_push_file_fsync_row_txn",
            label,
            "ops/s",
            hub_rate,
            "file+fsync, then INSERT 1 txn",
            count / both_s,
        ),
    ]


# ------------------------------------------------------------------------------ 3. projection


def build_events(count: int) -> list[EventBase]:
    """created (seq 1), versioned (seq 2), shared (seq 3) per artifact, ``count`` in all."""
    events: list[EventBase] = []
    start = datetime.now(UTC)
    i = 0
    while len(events) < count:
        artifact_id = f"art_ev{i:014d}"
        at = start + timedelta(milliseconds=i)
        chain: list[EventBase] = [
            ArtifactCreated(
                tenant_id=CALLER.tenant_id,
                actor=CALLER.agent_id,
                occurred_at=at,
                artifact_id=artifact_id,
                name=f"event-artifact-{i}",
                namespace=CALLER.namespace,
                agent_id=CALLER.agent_id,
                content_type="application/octet-stream",
                sha256=random_sha(),
                size_bytes=SMALL_BLOB,
                metadata={"step": i},
                labels={"stage": "bench"},
                tags=["bench"],
            ),
            ArtifactVersioned(
                tenant_id=CALLER.tenant_id,
                actor=CALLER.agent_id,
                occurred_at=at + timedelta(microseconds=1),
                artifact_id=artifact_id,
                seq=2,
                version=2,
                sha256=random_sha(),
                size_bytes=SMALL_BLOB,
                agent_id=CALLER.agent_id,
            ),
            ArtifactShared(
                tenant_id=CALLER.tenant_id,
                actor=CALLER.agent_id,
                occurred_at=at + timedelta(microseconds=2),
                artifact_id=artifact_id,
                seq=3,
                grants=[Principal(type="agent", id="reader"), Principal(type="group", id="team")],
            ),
        ]
        events.extend(chain[: count - len(events)])
        i += 1
    return events


def _label_rows(artifact_id: str, source: str, pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "artifact_id": artifact_id,
            "source": source,
            "key": key,
            "value": value if isinstance(value, str) else json.dumps(value),
        }
        for key, value in pairs.items()
    ]


TABLE_ORDER = (
    "artifacts",
    "artifact_versions",
    "artifact_labels",
    "artifact_tags",
    "access_entries",
    "processed_events",
)


def equivalent_rows(events: Sequence[EventBase]) -> list[dict[str, list[dict[str, Any]]]]:
    """Per event, the rows the projector leaves for it in the tables, grouped by table.

    An ``artifacts`` row belongs to its created event and is in its final state (last
    version, last revision): the baseline inserts it once where the projector inserts and
    then updates it.
    """
    final: dict[str, dict[str, Any]] = {}
    out: list[dict[str, list[dict[str, Any]]]] = []
    for event in events:
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_ORDER}
        if isinstance(event, ArtifactCreated):
            row: dict[str, Any] = {c.name: None for c in t.artifacts.columns}
            row.update(
                artifact_id=event.artifact_id,
                tenant_id=event.tenant_id,
                namespace=event.namespace,
                name=event.name,
                agent_id=event.agent_id,
                content_type=event.content_type,
                version=1,
                sha256=event.sha256,
                size_bytes=event.size_bytes,
                metadata=json.dumps(event.metadata),
                labels=json.dumps(event.labels),
                tags=json.dumps(event.tags),
                metrics=json.dumps(event.metrics),
                pinned=int(event.pinned),
                created_at=sql_time(event.occurred_at),
                updated_at=sql_time(event.occurred_at),
                revision=1,
            )
            final[event.artifact_id] = row
            rows["artifacts"].append(row)
            rows["artifact_versions"].append(_version_row(event, 1, event.metadata))
            rows["artifact_labels"] += _label_rows(event.artifact_id, "label", event.labels)
            rows["artifact_labels"] += _label_rows(event.artifact_id, "metadata", event.metadata)
            rows["artifact_tags"] += [
                {"artifact_id": event.artifact_id, "tag": tag} for tag in sorted(set(event.tags))
            ]
        elif isinstance(event, ArtifactVersioned):
            row = final[event.artifact_id]
            row.update(
                version=event.version,
                sha256=event.sha256,
                size_bytes=event.size_bytes,
                revision=event.seq,
                updated_at=sql_time(event.occurred_at),
            )
            metadata = json.loads(row["metadata"]) if event.metadata is None else event.metadata
            rows["artifact_versions"].append(_version_row(event, event.version, metadata))
        elif isinstance(event, ArtifactShared):
            final[event.artifact_id].update(
                revision=event.seq, updated_at=sql_time(event.occurred_at)
            )
            rows["access_entries"] += [
                {
                    "artifact_id": event.artifact_id,
                    "principal_type": p.type,
                    "principal_id": p.id,
                    "granted_by": event.actor,
                    "granted_at": sql_time(event.occurred_at),
                }
                for p in event.grants
            ]
        else:  # pragma: no cover - build_events makes only these three
            raise TypeError(event.type)
        rows["processed_events"].append(
            {
                "event_id": event.event_id,
                "event_type": event.type,
                "applied_at": sql_time(datetime.now(UTC)),
                "digest": event_digest(event),
            }
        )
        out.append(rows)
    return out


def _version_row(
    event: ArtifactCreated | ArtifactVersioned, version: int, metadata: dict[str, Any]
) -> dict[str, Any]:
    return {
        "artifact_id": event.artifact_id,
        "version": version,
        "sha256": event.sha256,
        "size_bytes": event.size_bytes,
        "content_type": event.content_type,
        "metadata": json.dumps(metadata),
        "agent_id": event.agent_id,
        "created_at": sql_time(event.occurred_at),
        "deleted_at": None,
    }


def batches(items: Sequence[EventBase], size: int) -> Iterable[Sequence[EventBase]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def hub_projection(path: Path, events: Sequence[EventBase], batch: int) -> float:
    db = Database(f"sqlite:///{path}")
    projector = IndexProjector()
    try:
        await db.migrate()
        with stopwatch() as watch:
            for group in batches(events, batch):
                async with db.begin() as conn:
                    for event in group:
                        await projector.apply(conn, event)
    finally:
        await db.dispose()
    return watch.seconds


async def hub_set_projection(path: Path, events: Sequence[EventBase], batch: int) -> float:
    """The consumer's set-based projection (``BatchProjection``), ``batch`` events per txn."""
    db = Database(f"sqlite:///{path}")
    projector = IndexProjector()
    try:
        await db.migrate()
        with stopwatch() as watch:
            for group in batches(events, batch):
                async with db.begin() as conn:
                    projection = BatchProjection(projector)
                    await projection.load(conn, group)
                    for event in group:
                        await projection.apply(conn, event)
                    await projection.finish(conn)
    finally:
        await db.dispose()
    return watch.seconds


def raw_projection(path: Path, events: Sequence[EventBase], batch: int) -> float:
    """``executemany`` of the equivalent rows, ``batch`` events per transaction.

    Rows are built before the clock starts (the hub's events are built beforehand too).
    """
    fresh_schema(path)
    sql_for = {table.name: insert_sql(table) for table in t.metadata.sorted_tables}
    per_event = equivalent_rows(events)
    plan: list[list[tuple[str, list[dict[str, Any]]]]] = []
    for start in range(0, len(per_event), batch):
        group = per_event[start : start + batch]
        merged = [(name, [row for rows in group for row in rows[name]]) for name in TABLE_ORDER]
        plan.append([(sql_for[name], rows) for name, rows in merged if rows])
    conn = sqlite_connect(path)
    try:
        with stopwatch() as watch:
            for statements in plan:
                conn.execute("BEGIN IMMEDIATE")
                for sql, rows in statements:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
    finally:
        conn.close()
    return watch.seconds


def bench_projection(workdir: Path, count: int, notes: list[str]) -> list[Row]:
    events = build_events(count)
    progress(f"projection: raw executemany ({count} events, 1 and {PROJECTION_BATCH}/txn)")
    raw_one_s = raw_projection(workdir / "raw-proj-1.db", events, 1)
    raw_batch_s = raw_projection(workdir / "raw-proj-batch.db", events, PROJECTION_BATCH)
    progress(f"projection: IndexProjector.apply, 1 event/txn ({count})")
    one_s = asyncio.run(hub_projection(workdir / "proj-1.db", events, 1))
    progress(f"projection: IndexProjector.apply, {PROJECTION_BATCH} events/txn ({count})")
    batch_s = asyncio.run(hub_projection(workdir / "proj-batch.db", events, PROJECTION_BATCH))
    progress(f"projection: BatchProjection, {PROJECTION_BATCH} events/txn ({count})")
    set_s = asyncio.run(hub_set_projection(workdir / "proj-set.db", events, PROJECTION_BATCH))

    notes.append(
        "projection: events are created/versioned/shared per artifact (metadata, a label, a "
        "tag, two grants); each hub transaction takes a pooled aiosqlite connection, "
        "BEGIN IMMEDIATE, then apply() reads, inserts and updates per event, or "
        "BatchProjection (the index consumer's set-based path) reads twice per batch and "
        "writes a few executemany per table; the raw side inserts the final rows of the same "
        "tables with executemany and never reads or updates."
    )
    label_one = "apply(), 1 event/txn"
    label_batch = f"apply(), {PROJECTION_BATCH} events/txn"
    raw_batch = f"executemany, {PROJECTION_BATCH} events/txn"
    return [
        Row(
            "projection_1_vs_row_txn",
            label_one,
            "events/s",
            count / one_s,
            "executemany, 1 event/txn",
            count / raw_one_s,
        ),
        Row(
            "projection_1_vs_batch",
            label_one,
            "events/s",
            count / one_s,
            raw_batch,
            count / raw_batch_s,
        ),
        Row(
            "projection_100_vs_batch",
            label_batch,
            "events/s",
            count / batch_s,
            raw_batch,
            count / raw_batch_s,
        ),
        Row(
            "projection_set_100_vs_batch",
            f"BatchProjection, {PROJECTION_BATCH} events/txn",
            "events/s",
            count / set_s,
            raw_batch,
            count / raw_batch_s,
        ),
    ]


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="artifact-hub core benchmark: hub figures beside raw baselines, one run."
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="large file size (MiB)")
    parser.add_argument("--small-count", type=int, default=2000, help="number of 4 KiB pushes")
    parser.add_argument("--events", type=int, default=5000, help="number of events to project")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to put the files (a fresh subfolder is made and removed); default: the "
        "system temp folder",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the large-file part (hub and raw alternate; the best round counts)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    for name in ("size_mib", "small_count", "events", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parent: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-", dir=parent))
    size = args.size_mib * 1024 * 1024
    try:
        facts = machine_facts(workdir)
        if facts["disk_free_gib"] * 1024**3 < 3.2 * size:
            raise SystemExit(f"{workdir} needs about {3 * size / 1024**3:.1f} GiB free")
        notes: list[str] = []
        rows = bench_large(workdir, size, args.repeat, notes)
        rows += bench_small(workdir, args.small_count, notes)
        rows += bench_projection(workdir, args.events, notes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if tuple(row.key for row in rows) != ROW_KEYS:  # keeps ROW_KEYS honest
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from ROW_KEYS")

    print("artifact-hub core benchmark: every figure beside a raw baseline measured in this same")
    print("run on this same machine. One run: the large-file part is the best of --repeat")
    print("alternating rounds, the rest one pass each. Compare ratios, not absolutes.")
    print_facts(facts)
    print(
        f"sizes:   large file {args.size_mib} MiB (best of {args.repeat} rounds), "
        f"{args.small_count} pushes of 4 KiB, {args.events} events (one pass each)"
    )
    print(
        "caches:  page cache NOT dropped: the input file, the blob and the copies are read "
        "from memory when RAM allows (both sides alike)."
    )
    print("ratio = artifact-hub / baseline (all figures are rates; 1.00x = as fast as raw).")
    print()
    print_table(rows)
    print()
    print("notes:")
    for note in notes:
        print(f"  - {note}")
    if args.json:
        print_json(
            {
                "bench": "core",
                "machine": facts,
                "params": {
                    "size_mib": args.size_mib,
                    "small_count": args.small_count,
                    "events": args.events,
                    "repeat": args.repeat,
                },
                "rows": [row.as_dict() for row in rows],
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
