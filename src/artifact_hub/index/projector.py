"""The projection from events to the index: the one piece of code that changes index rows.

The service layer calls it inside its write transaction; the consumers call it for events
that arrive from Kafka or in-process. Applying is idempotent: the event id is recorded in
``processed_events`` in the same transaction as the change, so a replay is a no-op. Events
about one artifact are applied in ``seq`` order: an event whose predecessor has not been applied
yet raises ``EventNotReadyError`` (try again later), one that contradicts what is applied raises
``EventRejectedError`` (dead-letter it).
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Insert,
    Row,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.errors import EventNotReadyError, EventRejectedError
from artifact_hub.index import tables as t
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactEvent,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)
from artifact_hub.schemas.lineage import Lineage

__all__ = [
    "SEAL_SESSION",
    "IndexProjector",
    "Usage",
    "add_usage",
    "artifact_update",
    "event_digest",
    "insert_ignore",
    "json_encoder",
    "label_value",
    "lock_artifact",
    "session_touch",
    "usage_upsert",
    "write_usage",
]

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


def event_digest(event: EventBase) -> str:
    """SHA-256 of the event's canonical JSON (every field, envelope included).

    Recorded with the event id in ``processed_events``: a redelivery of the same event has the
    same digest, a different event that reuses the id does not.
    """
    # ``event.model_dump(mode="json")``, minus the Python wrapper that passes its defaults on.
    document = _canonical_json(event.__pydantic_serializer__.to_python(event, mode="json"))
    return hashlib.sha256(document.encode()).hexdigest()


def json_encoder(*, sort_keys: bool, ensure_ascii: bool, compact: bool) -> Callable[[Any], str]:
    """``json.dumps`` with these options, its encoder built once instead of once per call.

    The same output: ``json.dumps`` builds this C encoder (CPython's ``_json``) on every call;
    without it, a prebuilt :class:`json.JSONEncoder`. No circular check: callers encode
    pydantic dumps and validated values, which have no cycles (a cycle would end in a
    ``RecursionError`` instead of ``ValueError``).
    """
    item, key = (",", ":") if compact else (", ", ": ")
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C encoder
        return json.JSONEncoder(
            sort_keys=sort_keys,
            ensure_ascii=ensure_ascii,
            check_circular=False,
            separators=(item, key),
        ).encode
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    encode = make(None, json.JSONEncoder().default, quote, None, key, item, sort_keys, False, True)
    join = "".join

    def dumps(value: Any) -> str:
        return join(encode(value, 0))

    return dumps


_canonical_json = json_encoder(sort_keys=True, ensure_ascii=False, compact=True)
"""``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""


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


def label_value(value: Any) -> str:
    """How a label or metadata value is stored (and compared) in the key/value side table.

    Every value is stored as its canonical JSON, so the string ``"3"`` and the number ``3``
    stay different.
    """
    if type(value) is str:  # the common case: its JSON string, as json.dumps writes it
        return _json_string(value)[:512]
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[:512]


_json_string: Callable[[str], str] = json.encoder.encode_basestring
"""``json.dumps(s, ensure_ascii=False)`` of a string."""


_State = Row[Any, Any, Any, Any, Any, Any]
"""An artifact's revision, tenant, version, metadata, deleted_at and purged_at."""


def check_sequence(event: ArtifactEvent, current: Any) -> None:
    """Whether ``event`` may move its artifact on: it is the next ``seq`` of the same tenant.

    ``current`` is the artifact as the index has it (``revision`` and ``tenant_id``), or None
    when it has no row yet. The one-by-one projection and the batch projection both ask here.

    Raises:
        EventNotReadyError: An earlier event of the artifact is still missing.
        EventRejectedError: Another tenant's artifact, or a ``seq`` already taken.
    """
    if current is None:
        raise EventNotReadyError(
            f"{event.type} for {event.artifact_id} arrived before artifact.created",
            artifact_id=event.artifact_id,
            seq=event.seq,
        )
    if current.tenant_id != event.tenant_id:
        raise EventRejectedError(
            f"{event.type} for {event.artifact_id} names another tenant",
            artifact_id=event.artifact_id,
        )
    if event.seq <= current.revision:
        raise EventRejectedError(
            f"{event.type} seq {event.seq} for {event.artifact_id} was already taken by "
            f"another event (revision is {current.revision})",
            artifact_id=event.artifact_id,
            seq=event.seq,
        )
    if event.seq > current.revision + 1:
        raise EventNotReadyError(
            f"{event.type} seq {event.seq} for {event.artifact_id} waits for seq "
            f"{current.revision + 1}",
            artifact_id=event.artifact_id,
            seq=event.seq,
        )


class IndexProjector:
    """Applies events to the index tables, idempotently and in per-artifact order.

    Besides the index rows it keeps ``tenant_usage`` (see ``tables.tenant_usage``): every
    change of the bytes a tenant stores is added in the same transaction.
    """

    async def apply(
        self,
        conn: AsyncConnection,
        event: EventBase,
        *,
        usage: Usage | None = None,
        fresh: bool = False,
    ) -> bool:
        """Apply one event inside the caller's transaction.

        Args:
            conn: The caller's transaction.
            event: The event.
            usage: Where to add the event's storage delta instead of writing it to
                ``tenant_usage`` now (a batch writes every tenant's delta once, at its end).
            fresh: The event was just made by the caller (the write path), so it cannot have
                been applied before: the ``processed_events`` lookup is skipped (the row's
                primary key still refuses a second one).

        Returns:
            True when the event changed the index, False when it was already applied.

        Raises:
            EventNotReadyError: An earlier event of the same artifact is still missing.
            EventRejectedError: The event contradicts the index (e.g. a second create).
        """
        if not fresh and await conn.scalar(_SEEN, {"b_event_id": event.event_id}) is not None:
            return False
        if isinstance(event, ArtifactEvent):
            await lock_artifact(conn, event.artifact_id)
        delta: tuple[int, int] | None = None
        if isinstance(event, ArtifactCreated):
            await self._created(conn, event)
            delta = (event.size_bytes, 1)
        elif isinstance(event, SessionSealed):
            await self._sealed(conn, event)
        elif isinstance(event, ArtifactEvent):
            row = await self._advance(conn, event)
            live = row.deleted_at is None and row.purged_at is None
            if isinstance(event, ArtifactVersioned):
                await self._versioned(conn, event, row)
                if live:
                    delta = (event.size_bytes, 1)
            elif isinstance(event, ArtifactShared):
                await self._shared(conn, event)
            elif isinstance(event, ArtifactUpdated):
                await self._updated(conn, event)
            elif isinstance(event, ArtifactDeleted):
                delta = await self._deleted(conn, event, live=live)
            elif isinstance(event, ArtifactExpired):
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(expired_at=event.occurred_at)
                )
            else:  # pragma: no cover - every ArtifactEvent subclass is handled above
                raise EventRejectedError(f"unknown event type {event.type}")
        else:  # pragma: no cover
            raise EventRejectedError(f"unknown event type {event.type}")
        if delta is not None and (delta[0] or delta[1]):
            if usage is not None:
                add_usage(usage, event.tenant_id, *delta)
            else:
                await conn.execute(
                    usage_upsert(conn),
                    {"tenant_id": event.tenant_id, "bytes": delta[0], "versions": delta[1]},
                )
        await conn.execute(
            _INSERT_PROCESSED,
            {
                "event_id": event.event_id,
                "event_type": event.type,
                "applied_at": datetime.now(UTC),
                "digest": event_digest(event),
            },
        )
        return True

    async def _advance(self, conn: AsyncConnection, event: ArtifactEvent) -> _State:
        """Move the artifact's revision from ``seq - 1`` to ``seq``, or say why not.

        Returns:
            The artifact's row as it was (revision, tenant, version, metadata, deletion).
        """
        row: _State | None = (
            await conn.execute(_STATE, {"b_artifact_id": event.artifact_id})
        ).first()
        check_sequence(event, row)
        assert row is not None  # check_sequence raised otherwise
        result = await conn.execute(
            _ADVANCE,
            {
                "b_artifact_id": event.artifact_id,
                "b_from_revision": row.revision,
                "b_revision": event.seq,
                "b_updated_at": event.occurred_at,
            },
        )
        if result.rowcount != 1:  # a concurrent writer advanced it first
            raise EventNotReadyError(
                f"{event.artifact_id} changed concurrently", artifact_id=event.artifact_id
            )
        return row

    async def _created(self, conn: AsyncConnection, event: ArtifactCreated) -> None:
        # ON CONFLICT DO NOTHING tells an existing artifact without a SELECT first, and
        # without aborting the transaction (PostgreSQL) as a unique violation would.
        result = await conn.execute(insert_ignore(conn, "artifacts"), created_artifact_row(event))
        if result.rowcount != 1:
            raise EventRejectedError(
                f"artifact {event.artifact_id} already exists", artifact_id=event.artifact_id
            )
        await conn.execute(
            _INSERT_VERSION,
            {
                "artifact_id": event.artifact_id,
                "version": 1,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": event.metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
            },
        )
        # A new artifact has no side rows yet: insert without the DELETE of a replace.
        await self._replace_pairs(conn, event.artifact_id, "label", event.labels, fresh=True)
        await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata, fresh=True)
        await self._replace_tags(conn, event.artifact_id, event.tags, fresh=True)
        if event.lineage is not None:
            await self._lineage(conn, event, 1, event.lineage)
        if event.session_id:
            await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)

    async def _versioned(
        self, conn: AsyncConnection, event: ArtifactVersioned, previous: _State
    ) -> None:
        if event.version != previous.version + 1:
            raise EventRejectedError(
                f"version {event.version} of {event.artifact_id} does not follow "
                f"version {previous.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        metadata = previous.metadata if event.metadata is None else event.metadata
        await conn.execute(
            _INSERT_VERSION,
            {
                "artifact_id": event.artifact_id,
                "version": event.version,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
            },
        )
        values = versioned_artifact_values(event, metadata)
        if event.lineage is not None:
            await self._lineage(conn, event, event.version, event.lineage)
        await _update_artifact(conn, event.artifact_id, values)
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)

    @staticmethod
    async def _lineage(
        conn: AsyncConnection, event: ArtifactEvent, version: int, lineage: Lineage
    ) -> None:
        """Record which run and step made ``version``, and the versions it was made from."""
        row, inputs = lineage_rows(event, version, lineage)
        await conn.execute(_INSERT_LINEAGE, row)
        if inputs:
            await conn.execute(_INSERT_INPUTS, inputs)

    async def _shared(self, conn: AsyncConnection, event: ArtifactShared) -> None:
        for principal in event.revokes:
            await conn.execute(
                _DELETE_ACCESS,
                {
                    "b_artifact_id": event.artifact_id,
                    "b_principal_type": principal.type,
                    "b_principal_id": principal.id,
                },
            )
        if event.grants:
            # An existing grant is kept as it is (who granted it first, and when).
            await conn.execute(
                insert_ignore(conn, "access_entries"),
                [
                    {
                        "artifact_id": event.artifact_id,
                        "principal_type": principal.type,
                        "principal_id": principal.id,
                        "granted_by": event.actor,
                        "granted_at": event.occurred_at,
                    }
                    for principal in {(p.type, p.id): p for p in event.grants}.values()
                ],
            )

    async def _updated(self, conn: AsyncConnection, event: ArtifactUpdated) -> None:
        values = updated_artifact_values(event)
        if values:
            await _update_artifact(conn, event.artifact_id, values)
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)
        if event.labels is not None:
            await self._replace_pairs(conn, event.artifact_id, "label", event.labels)
        if event.tags is not None:
            await self._replace_tags(conn, event.artifact_id, event.tags)

    @staticmethod
    async def _live_usage(conn: AsyncConnection, artifact_id: str) -> tuple[int, int]:
        """(bytes, count) of the artifact's versions that are not deleted."""
        v = t.artifact_versions.c
        row = (
            await conn.execute(
                select(func.coalesce(func.sum(v.size_bytes), 0), func.count()).where(
                    and_(v.artifact_id == artifact_id, v.deleted_at.is_(None))
                )
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def _deleted(
        self, conn: AsyncConnection, event: ArtifactDeleted, *, live: bool
    ) -> tuple[int, int] | None:
        """Apply a delete; return the storage delta (``live``: the artifact counted)."""
        if event.version is None:
            delta = None
            if live:  # its versions stop counting now (a purge after a delete: already)
                size, count = await self._live_usage(conn, event.artifact_id)
                delta = (-size, -count)
            if event.purged:
                # The artifact row stays as a tombstone (its revision orders any late event).
                for table in (
                    t.artifact_versions,
                    t.artifact_labels,
                    t.artifact_tags,
                    t.access_entries,
                    t.artifact_lineage,
                    t.lineage_inputs,
                ):
                    await conn.execute(
                        delete(table).where(table.c.artifact_id == event.artifact_id)
                    )
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(
                        deleted_at=func.coalesce(t.artifacts.c.deleted_at, event.occurred_at),
                        purged_at=event.occurred_at,
                        metadata={},
                        labels={},
                        tags=[],
                        metrics={},
                    )
                )
            else:
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(deleted_at=event.occurred_at)
                )
            return delta
        v = t.artifact_versions.c
        where = and_(v.artifact_id == event.artifact_id, v.version == event.version)
        version = (await conn.execute(select(v.size_bytes, v.deleted_at).where(where))).first()
        if version is None:
            raise EventRejectedError(
                f"{event.artifact_id} has no version {event.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        await conn.execute(
            update(t.artifact_versions).where(where).values(deleted_at=event.occurred_at)
        )
        if live and version.deleted_at is None:
            return (-int(version.size_bytes), -1)
        return None

    async def _sealed(self, conn: AsyncConnection, event: SessionSealed) -> None:
        await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)
        await conn.execute(
            SEAL_SESSION,
            {
                "b_tenant_id": event.tenant_id,
                "b_session_id": event.session_id,
                "b_sealed_at": event.occurred_at,
            },
        )

    @staticmethod
    async def _touch_session(
        conn: AsyncConnection, tenant_id: str, session_id: str, at: datetime
    ) -> None:
        # One upsert: insert, or keep the earliest created_at (events of different artifacts
        # may arrive in any order).
        await conn.execute(
            session_touch(conn),
            {"tenant_id": tenant_id, "session_id": session_id, "created_at": at},
        )

    @staticmethod
    async def _replace_pairs(
        conn: AsyncConnection,
        artifact_id: str,
        source: str,
        pairs: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> None:
        if not fresh:
            await conn.execute(_DELETE_PAIRS, {"b_artifact_id": artifact_id, "b_source": source})
        if pairs:
            await conn.execute(
                _INSERT_LABELS,
                [
                    {
                        "artifact_id": artifact_id,
                        "source": source,
                        "key": key[:128],
                        "value": label_value(value),
                    }
                    for key, value in pairs.items()
                ],
            )

    @staticmethod
    async def _replace_tags(
        conn: AsyncConnection, artifact_id: str, tags: list[str], *, fresh: bool = False
    ) -> None:
        if not fresh:
            await conn.execute(_DELETE_TAGS, {"b_artifact_id": artifact_id})
        unique = sorted(set(tags))
        if unique:
            await conn.execute(
                _INSERT_TAGS,
                [{"artifact_id": artifact_id, "tag": tag} for tag in unique],
            )


def created_artifact_row(event: ArtifactCreated) -> dict[str, Any]:
    """The ``artifacts`` row an ``artifact.created`` inserts."""
    lineage = event.lineage
    return {
        "artifact_id": event.artifact_id,
        "tenant_id": event.tenant_id,
        "namespace": event.namespace,
        "name": event.name,
        "agent_id": event.agent_id,
        "session_id": event.session_id,
        "kind": event.kind,
        "content_type": event.content_type,
        "version": 1,
        "sha256": event.sha256,
        "size_bytes": event.size_bytes,
        "metadata": event.metadata,
        "labels": event.labels,
        "tags": event.tags,
        "metrics": event.metrics,
        "pinned": event.pinned,
        "uri": event.uri,
        "preview_uri": event.preview_uri,
        "run_id": event.run_id or (lineage.run_id if lineage else None),
        "graph_id": event.graph_id or (lineage.workflow_id if lineage else None),
        "node_id": event.node_id or (lineage.step_id if lineage else None),
        "tool_name": event.tool_name,
        "tool_version": event.tool_version,
        "org_id": event.org_id,
        "user_id": event.user_id,
        "client_id": event.client_id,
        "app_id": event.app_id,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "expires_at": event.expires_at,
        "deleted_at": None,
        "expired_at": None,
        "purged_at": None,
        "revision": 1,
    }


def versioned_artifact_values(event: ArtifactVersioned, metadata: Any) -> dict[str, Any]:
    """The ``artifacts`` columns an ``artifact.versioned`` sets (besides revision/updated_at)."""
    values: dict[str, Any] = {
        "version": event.version,
        "sha256": event.sha256,
        "size_bytes": event.size_bytes,
        "metadata": metadata,
    }
    if event.content_type is not None:
        values["content_type"] = event.content_type
    if event.lineage is not None:
        # The artifact row names the run that made its current version.
        values["run_id"] = event.lineage.run_id
        if event.lineage.workflow_id is not None:
            values["graph_id"] = event.lineage.workflow_id
        if event.lineage.step_id is not None:
            values["node_id"] = event.lineage.step_id
    return values


def updated_artifact_values(event: ArtifactUpdated) -> dict[str, Any]:
    """The ``artifacts`` columns an ``artifact.updated`` sets (besides revision/updated_at)."""
    values: dict[str, Any] = {}
    if event.pinned is not None:
        values["pinned"] = event.pinned
    if event.expiry is not None:
        values["expires_at"] = event.expiry.expires_at
        values["expired_at"] = None
    for field in ("metadata", "labels", "tags", "metrics"):
        value = getattr(event, field)
        if value is not None:
            values[field] = value
    return values


def label_rows(artifact_id: str, source: str, pairs: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``artifact_labels`` rows of ``pairs``."""
    return [
        {"artifact_id": artifact_id, "source": source, "key": key[:128], "value": label_value(v)}
        for key, v in pairs.items()
    ]


def tag_rows(artifact_id: str, tags: list[str]) -> list[dict[str, Any]]:
    """The ``artifact_tags`` rows of ``tags``."""
    return [{"artifact_id": artifact_id, "tag": tag} for tag in sorted(set(tags))]


def lineage_rows(
    event: ArtifactEvent, version: int, lineage: Lineage
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``artifact_lineage`` row and ``lineage_inputs`` rows of a version's lineage."""
    inputs = {(i.artifact_id, i.version): None for i in lineage.inputs}  # unique, in order
    return (
        {
            "artifact_id": event.artifact_id,
            "version": version,
            "tenant_id": event.tenant_id,
            "run_id": lineage.run_id,
            "workflow_id": lineage.workflow_id,
            "step_id": lineage.step_id,
            "created_at": event.occurred_at,
        },
        [
            {
                "artifact_id": event.artifact_id,
                "version": version,
                "input_artifact_id": input_id,
                "input_version": input_version,
                "tenant_id": event.tenant_id,
            }
            for input_id, input_version in inputs
        ],
    )
