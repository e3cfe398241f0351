"""Prepared SQL of the projection: statements built once per dialect, bound per event.

Also the tenant usage deltas (:data:`Usage`) and the per-artifact lock the writers take.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Insert,
    Update,
    and_,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t

Usage = dict[str, list[int]]
"""Storage deltas per tenant, ``{tenant_id: [bytes, versions]}``, not written yet."""


def add_usage(usage: Usage, tenant_id: str, size: int, versions: int) -> None:
    """Add a delta to ``usage``."""
    entry = usage.get(tenant_id)
    if entry is None:
        usage[tenant_id] = [size, versions]
    else:
        entry[0] += size
        entry[1] += versions


def _dialect(conn: AsyncConnection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


_STATEMENTS: dict[tuple[str, str], Insert] = {}


def _cached(conn: AsyncConnection, name: str) -> Insert:
    key = (conn.dialect.name, name)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = _BUILDERS[name](_dialect(conn))
    return found


def _build_usage_upsert(dialect: Any) -> Insert:
    u = t.tenant_usage
    ins = dialect.insert(u)
    statement: Insert = ins.on_conflict_do_update(
        index_elements=[u.c.tenant_id],
        set_={
            "bytes": u.c.bytes + ins.excluded.bytes,
            "versions": u.c.versions + ins.excluded.versions,
        },
    )
    return statement


def _build_session_touch(dialect: Any) -> Insert:
    s = t.sessions
    ins = dialect.insert(s)
    statement: Insert = ins.on_conflict_do_update(
        index_elements=[s.c.tenant_id, s.c.session_id],
        set_={"created_at": ins.excluded.created_at},
        # Events of different artifacts may arrive in any order; keep the earliest.
        where=ins.excluded.created_at < s.c.created_at,
    )
    return statement


def _build_ignore(table: Any) -> Any:
    def build(dialect: Any) -> Insert:
        statement: Insert = dialect.insert(table).on_conflict_do_nothing(
            index_elements=list(table.primary_key.columns)
        )
        return statement

    return build


_BUILDERS = {
    "usage": _build_usage_upsert,
    "session": _build_session_touch,
    "ignore:artifacts": _build_ignore(t.artifacts),
    "ignore:access_entries": _build_ignore(t.access_entries),
}


def usage_upsert(conn: AsyncConnection) -> Insert:
    """``INSERT INTO tenant_usage ... ON CONFLICT DO UPDATE`` adding the given deltas."""
    return _cached(conn, "usage")


def session_touch(conn: AsyncConnection) -> Insert:
    """Insert a session, or move its ``created_at`` earlier (never later)."""
    return _cached(conn, "session")


def insert_ignore(conn: AsyncConnection, table_name: str) -> Insert:
    """``INSERT ... ON CONFLICT (primary key) DO NOTHING`` into ``artifacts``/``access_entries``."""
    return _cached(conn, f"ignore:{table_name}")


async def write_usage(conn: AsyncConnection, usage: Usage) -> None:
    """Add ``usage`` to ``tenant_usage`` in one statement.

    Tenants go in sorted order: every writer takes the rows' locks in the same order.
    """
    rows = [
        {"tenant_id": tenant_id, "bytes": delta[0], "versions": delta[1]}
        for tenant_id, delta in sorted(usage.items())
        if delta[0] or delta[1]
    ]
    if rows:
        await conn.execute(usage_upsert(conn), rows)


async def lock_artifact(conn: AsyncConnection, artifact_id: str) -> None:
    """Serialize transactions about one artifact until the caller's transaction ends.

    A row lock cannot do it before the artifact's row exists (an early event and the create
    it waits for would race); PostgreSQL takes an advisory lock on the id. SQLite needs
    nothing: its write transactions already run one at a time.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK, {"id": artifact_id})


# Statements built once, their values bound per call: SQLAlchemy then finds each one compiled
# in its cache instead of building and hashing a new statement (and a bind per literal) for
# every event.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 0))")
_A = t.artifacts.c
_SEEN = select(t.processed_events.c.event_id).where(
    t.processed_events.c.event_id == bindparam("b_event_id")
)
_STATE = (
    select(_A.revision, _A.tenant_id, _A.version, _A.metadata, _A.deleted_at, _A.purged_at)
    .where(_A.artifact_id == bindparam("b_artifact_id"))
    .with_for_update()
)
_ADVANCE = (
    update(t.artifacts)
    .where(
        and_(
            _A.artifact_id == bindparam("b_artifact_id"),
            _A.revision == bindparam("b_from_revision"),
        )
    )
    .values(
        revision=bindparam("b_revision", type_=_A.revision.type),
        updated_at=bindparam("b_updated_at", type_=_A.updated_at.type),
    )
)
_INSERT_PROCESSED = insert(t.processed_events)
_INSERT_VERSION = insert(t.artifact_versions)
_INSERT_LINEAGE = insert(t.artifact_lineage)
_INSERT_INPUTS = insert(t.lineage_inputs)
_INSERT_LABELS = insert(t.artifact_labels)
_INSERT_TAGS = insert(t.artifact_tags)
_DELETE_ACCESS = delete(t.access_entries).where(
    and_(
        t.access_entries.c.artifact_id == bindparam("b_artifact_id"),
        t.access_entries.c.principal_type == bindparam("b_principal_type"),
        t.access_entries.c.principal_id == bindparam("b_principal_id"),
    )
)
_DELETE_PAIRS = delete(t.artifact_labels).where(
    and_(
        t.artifact_labels.c.artifact_id == bindparam("b_artifact_id"),
        t.artifact_labels.c.source == bindparam("b_source"),
    )
)
_DELETE_TAGS = delete(t.artifact_tags).where(
    t.artifact_tags.c.artifact_id == bindparam("b_artifact_id")
)
SEAL_SESSION = (
    update(t.sessions)
    .where(
        and_(
            t.sessions.c.tenant_id == bindparam("b_tenant_id"),
            t.sessions.c.session_id == bindparam("b_session_id"),
            t.sessions.c.sealed_at.is_(None),
        )
    )
    .values(sealed_at=bindparam("b_sealed_at", type_=t.sessions.c.sealed_at.type))
)
_ARTIFACT_UPDATES: dict[tuple[str, ...], Update] = {}


def artifact_update(columns: tuple[str, ...]) -> Update:
    """``UPDATE artifacts SET <columns> WHERE artifact_id = ?``, built once per column set.

    Parameters are ``b_<column>`` and ``b_artifact_id`` (one row, or many for executemany).
    """
    statement = _ARTIFACT_UPDATES.get(columns)
    if statement is None:
        statement = _ARTIFACT_UPDATES[columns] = (
            update(t.artifacts)
            .where(_A.artifact_id == bindparam("b_artifact_id"))
            .values({name: bindparam(f"b_{name}", type_=_A[name].type) for name in columns})
        )
    return statement


async def _update_artifact(conn: AsyncConnection, artifact_id: str, values: dict[str, Any]) -> None:
    """``UPDATE artifacts SET <values> WHERE artifact_id = ...`` (see :func:`artifact_update`)."""
    params = {f"b_{name}": value for name, value in values.items()}
    params["b_artifact_id"] = artifact_id
    await conn.execute(artifact_update(tuple(values)), params)
