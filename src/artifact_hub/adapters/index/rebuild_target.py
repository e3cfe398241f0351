"""The SQL a rebuild needs: the tables the events build, emptying them, and reading the log.

The rebuild itself (``artifact_hub.consumers.rebuild``) replays events through the consumers'
projection; what it asks of the index database is here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database, normalize_url
from artifact_hub.adapters.index.outbox import OutboxRow
from artifact_hub.core.errors import ConflictError

__all__ = [
    "PROJECTION_TABLES",
    "applied_and_waiting",
    "count_rows",
    "display_url",
    "in_log",
    "log_batch",
    "missing_sqlite_file",
    "prepare_target",
]

log = logging.getLogger("artifact_hub.consumers.rebuild")

PROJECTION_TABLES = (
    t.lineage_inputs,
    t.artifact_lineage,
    t.access_entries,
    t.artifact_tags,
    t.artifact_labels,
    t.artifact_versions,
    t.artifacts,
    t.sessions,
    t.deferred_events,
    t.processed_events,
    t.tenant_usage,
)
"""What the events build (and ``force`` empties): the index, the access lists, and the
consumers' bookkeeping of applied and parked events."""


async def prepare_target(db: Database, *, force: bool) -> None:
    """Migrate the target and make sure its index is empty (emptying it with ``force``).

    Raises:
        ConflictError: The index is not empty and ``force`` is False.
    """
    await db.migrate()
    async with db.connect() as conn:
        counts = {
            table.name: await count_rows(conn, table)
            for table in (t.artifacts, t.sessions, t.processed_events, t.deferred_events)
        }
    if not any(counts.values()):
        return
    if not force:
        found = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
        raise ConflictError(
            f"the target index is not empty ({found}); rebuild into an empty database, "
            "or force it to empty the index first",
            **counts,
        )
    log.warning("rebuild: emptying the index of %s (%s)", display_url(db), counts)
    async with db.begin() as conn:
        for table in PROJECTION_TABLES:
            await conn.execute(delete(table))


async def count_rows(conn: AsyncConnection, table: Any) -> int:
    """How many rows ``table`` holds."""
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def applied_and_waiting(db: Database) -> tuple[int, int]:
    """The events applied to the index and those still parked."""
    async with db.connect() as conn:
        return (
            await count_rows(conn, t.processed_events),
            await count_rows(conn, t.deferred_events),
        )


async def in_log(conn: AsyncConnection, event_id: str) -> bool:
    """Whether the event is in the outbox (the hub's event log) already."""
    known = await conn.scalar(select(t.outbox.c.id).where(t.outbox.c.event_id == event_id))
    return known is not None


async def log_batch(conn: AsyncConnection, after: int, limit: int) -> list[OutboxRow]:
    """Up to ``limit`` rows of the event log after row ``after``, in the order written."""
    rows = (
        await conn.execute(
            select(t.outbox).where(t.outbox.c.id > after).order_by(t.outbox.c.id).limit(limit)
        )
    ).all()
    return [OutboxRow(**row._mapping) for row in rows]


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite file URL whose file does not exist (opening it would create it)."""
    parsed = normalize_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or path in (None, "", ":memory:"):
        return None
    return None if Path(path).exists() else path


def display_url(db: Database) -> str:
    """The database's URL without its password."""
    return db.url.render_as_string(hide_password=True)
