"""Set-based projection of a batch of events: a fixed number of statements per table.

:class:`BatchProjection` applies the events of one consumer poll inside one transaction with
the same outcome as :meth:`IndexProjector.apply` on each event in turn, but reads once and
writes once per table: one SELECT of ``processed_events`` for the batch's event ids, one
SELECT of the batch's artifacts (revision, version, tenant, metadata, deletion), then the
changes computed in Python, in ``seq`` order per artifact, and written with ``executemany``
per table (inserts, updates grouped by the columns they set, deletes), and one upsert of
``tenant_usage`` at the end (tenants sorted).

The common events take this path: ``artifact.created``, ``artifact.versioned``,
``artifact.shared``, ``artifact.updated`` and ``session.sealed``. Any other event (deletes,
expiries) goes through :meth:`IndexProjector.apply` inside the same transaction, after the
pending rows are written, and so do the later events of its artifact in the batch.

The caller locks the batch's artifacts first (:func:`lock_artifacts`), so what is read stays
true until the transaction ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Delete,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.errors import EventRejectedError
from artifact_hub.index import tables as t
from artifact_hub.index.projector import (
    SEAL_SESSION,
    IndexProjector,
    Usage,
    add_usage,
    artifact_update,
    check_sequence,
    created_artifact_row,
    event_digest,
    insert_ignore,
    json_encoder,
    label_rows,
    lineage_rows,
    session_touch,
    tag_rows,
    updated_artifact_values,
    versioned_artifact_values,
    write_usage,
)
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactEvent,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)

__all__ = [
    "BatchProjection",
    "chunks",
    "executemany",
    "ids_param",
    "in_ids",
    "lock_artifacts",
    "processed_ids",
]

CHUNK = 500
"""Ids per ``IN (...)`` list (a consumer poll is at most 500 records)."""

_A = t.artifacts.c
_LOCK_MANY = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(u.id, 0)) "
    "FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS u(id, n) ORDER BY u.n"
).bindparams(bindparam("ids", type_=ARRAY(String)))


def in_ids(conn: AsyncConnection, column: ColumnElement[str]) -> ColumnElement[bool]:
    """``column IN (:ids)``, one SQL text whatever the number of ids (statement caches hit).

    ``IN (SELECT unnest(:ids))`` with an array on PostgreSQL,
    ``IN (SELECT value FROM json_each(:ids))`` on SQLite. Bind :func:`ids_param` to ``ids``.
    """
    if conn.dialect.name == "postgresql":
        # Not ``= ANY(:ids)``: prepared statements get a generic plan after five runs, and
        # that plan cannot hash a parameter array: against a table the planner thinks small,
        # a sequential scan compares every row with every id.
        return column.in_(select(func.unnest(bindparam("ids", type_=ARRAY(String)))))
    return column.in_(
        select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String)))
    )


def ids_param(conn: AsyncConnection, ids: Iterable[str]) -> Any:
    """The value of the ``ids`` parameter of :func:`in_ids`."""
    values = sorted(set(ids))
    return values if conn.dialect.name == "postgresql" else json.dumps(values)


_COMPILED: dict[tuple[str, int, tuple[str, ...]], tuple[Any, str, Any, list[tuple[int, Any]]]] = {}


async def executemany(conn: AsyncConnection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Execute ``statement`` once per row, as SQLAlchemy would, with less work per row.

    The statement is compiled once per dialect and set of keys; each row is turned into the
    driver's tuple with the columns' own bind processors (the same JSON and datetime
    conversions), then the driver's ``executemany`` runs it. Every row has the keys of the
    first. ``statement`` must live as long as the process (a module-level or cached one):
    it is cached by identity.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    cache_key = (conn.dialect.name, id(statement), keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
        processors = compiled._bind_processors
        names = list(compiled.positiontup or ())
        getter = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        convert = [
            (position, _faster(conn, compiled.binds[name].type, processors[name]))
            for position, name in enumerate(names)
            if processors.get(name) is not None
        ]
        # The statement is kept in the entry: its id stays its own.
        found = _COMPILED[cache_key] = (statement, compiled.string, getter, convert)
    _, sql, getter, convert = found
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(getter(row))
        for position, process in convert:
            values[position] = process(values[position])
        params.append(tuple(values))
    await conn.exec_driver_sql(sql, params)


_json_dumps = json_encoder(sort_keys=False, ensure_ascii=True, compact=False)
"""``json.dumps`` with its defaults (what SQLAlchemy's JSON type calls)."""
_JSON_PROBES: tuple[Any, ...] = ({"b": [1, 2.5, None, True], "a": {"é": "ü\n"}}, ["x", {}], {})
_UTC_MEMO: dict[str, dict[datetime, Any]] = {}
_UTC_MEMO_SIZE = 8192


def _faster(conn: AsyncConnection, type_: Any, process: Callable[[Any], Any]) -> Any:
    """``process`` (a column's bind processor) or an equivalent that does less per row.

    - ``UTCDateTime``: one conversion per distinct moment (a batch repeats each event's time
      in several columns and rows, and ``applied_at`` in every row), shared by the columns
      of that type on this dialect; equal moments are stored alike whatever their zone.
    - ``JSON``, when the dialect serializes with plain ``json.dumps`` (checked on probes):
      dicts and lists go to a prebuilt encoder; anything else to ``process``.
    """
    if isinstance(type_, t.UTCDateTime):
        memo = _UTC_MEMO.setdefault(conn.dialect.name, {})

        def utc(value: Any) -> Any:
            if value is None:
                return None  # what the type makes of None
            found = memo.get(value)
            if found is None:
                if len(memo) >= _UTC_MEMO_SIZE:
                    memo.clear()
                found = process(value)
                if found is not None:
                    memo[value] = found
            return found

        return utc
    if isinstance(type_, JSON) and all(process(p) == json.dumps(p) for p in _JSON_PROBES):

        def dumps(value: Any) -> Any:
            kind = type(value)
            if kind is dict or kind is list:
                try:
                    return _json_dumps(value)
                except (TypeError, ValueError, RecursionError):
                    pass  # process raises what it always raised
            return process(value)

        return dumps
    return process


_INSERT = {
    table.name: insert(table)
    for table in (
        t.artifacts,
        t.artifact_versions,
        t.artifact_labels,
        t.artifact_tags,
        t.artifact_lineage,
        t.lineage_inputs,
        t.processed_events,
    )
}
_DELETE_LABELS = delete(t.artifact_labels).where(
    and_(
        t.artifact_labels.c.artifact_id == bindparam("b_artifact_id"),
        t.artifact_labels.c.source == bindparam("b_source"),
    )
)
_DELETE_TAGS = delete(t.artifact_tags).where(
    t.artifact_tags.c.artifact_id == bindparam("b_artifact_id")
)
_DELETE_ACCESS = delete(t.access_entries).where(
    and_(
        t.access_entries.c.artifact_id == bindparam("b_artifact_id"),
        t.access_entries.c.principal_type == bindparam("b_principal_type"),
        t.access_entries.c.principal_id == bindparam("b_principal_id"),
    )
)


def chunks(values: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def lock_artifacts(conn: AsyncConnection, artifact_ids: Sequence[str]) -> None:
    """:func:`~artifact_hub.index.projector.lock_artifact` on each id, in sorted order.

    One statement on PostgreSQL (the locks are taken in the order of the sorted array);
    nothing on SQLite, whose write transactions run one at a time.
    """
    if conn.dialect.name != "postgresql" or not artifact_ids:
        return
    await conn.execute(_LOCK_MANY, {"ids": sorted(set(artifact_ids))})


async def processed_ids(conn: AsyncConnection, event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` are in ``processed_events`` (one query)."""
    ids = ids_param(conn, event_ids)
    if not ids or ids == "[]":
        return set()
    column = t.processed_events.c.event_id
    query = select(column).where(in_ids(conn, column))
    return set((await conn.execute(query, {"ids": ids})).scalars())


@dataclass(slots=True)
class _Artifact:
    """What the batch knows of one artifact (read once, then kept up to date in memory)."""

    artifact_id: str
    tenant_id: str
    revision: int
    version: int
    metadata: Any
    live: bool  # neither deleted nor purged: its versions count in tenant_usage
    in_db: bool  # its row (and side rows) are in the database, not only pending
    row: dict[str, Any] | None = None  # the pending INSERT row of an artifact made here
    changes: dict[str, Any] = field(default_factory=dict)  # pending UPDATE of one in_db
    slow: bool = False  # an event of it went through IndexProjector.apply: the rest too


class BatchProjection:
    """One batch's projection inside the caller's transaction.

    Use: :meth:`load` with the batch's events, then :meth:`apply` each event in order
    (``seq`` order per artifact), then :meth:`finish`. :meth:`revision` tells the caller which
    events are early.

    Args:
        projector: The per-event projection, for the events this path does not handle.
    """

    def __init__(self, projector: IndexProjector) -> None:
        self.projector = projector
        self.usage: Usage = {}
        self.seen: set[str] = set()
        self.artifacts: dict[str, _Artifact] = {}
        self._now = datetime.now(UTC)
        self._clear()

    def _clear(self) -> None:
        self._inserts: dict[str, list[dict[str, Any]]] = {name: [] for name in _INSERT}
        self._labels: dict[tuple[str, str], dict[str, Any]] = {}
        self._label_deletes: set[tuple[str, str]] = set()
        self._tags: dict[str, list[str]] = {}
        self._tag_deletes: set[str] = set()
        # (artifact, type, id) -> the grant row to insert (ON CONFLICT DO NOTHING), or None
        # for a revoked entry.
        self._access: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._access_deletes: set[tuple[str, str, str]] = set()
        self._touches: dict[tuple[str, str], datetime] = {}
        self._seals: dict[tuple[str, str], datetime] = {}

    # ------------------------------------------------------------------ reading

    async def load(
        self,
        conn: AsyncConnection,
        events: Sequence[EventBase],
        more_ids: Iterable[str] = (),
        *,
        fresh: Set[str] = frozenset(),
    ) -> None:
        """Read what the batch needs: its processed event ids and its artifacts' state.

        Args:
            conn: The transaction, the batch's artifacts locked.
            events: The batch.
            more_ids: Ids of other events that may be applied too (parked ones).
            fresh: Event ids the caller found not applied in this transaction already.
        """
        # An artifact event applied concurrently since ``fresh`` was read shows, under the
        # lock, as a seq already taken (the caller then goes one event at a time); a session
        # event has no lock to tell it: read again.
        ids = [
            e.event_id
            for e in events
            if e.event_id not in fresh or not isinstance(e, ArtifactEvent)
        ]
        ids += [i for i in more_ids if i not in fresh]
        if ids:
            self.seen |= await processed_ids(conn, ids)
        ids = [e.artifact_id for e in events if isinstance(e, ArtifactEvent)]
        if not ids:
            return
        query = select(
            _A.artifact_id,
            _A.tenant_id,
            _A.revision,
            _A.version,
            _A.metadata,
            _A.deleted_at,
            _A.purged_at,
        ).where(in_ids(conn, _A.artifact_id))
        for row in await conn.execute(query, {"ids": ids_param(conn, ids)}):
            self.artifacts[row.artifact_id] = _Artifact(
                artifact_id=row.artifact_id,
                tenant_id=row.tenant_id,
                revision=int(row.revision),
                version=int(row.version),
                metadata=row.metadata,
                live=row.deleted_at is None and row.purged_at is None,
                in_db=True,
            )

    def revision(self, artifact_id: str) -> int | None:
        """The artifact's revision as applied so far (None: no such artifact yet)."""
        state = self.artifacts.get(artifact_id)
        return None if state is None else state.revision

    # ------------------------------------------------------------------ applying

    async def apply(self, conn: AsyncConnection, event: EventBase) -> bool:
        """Apply one event, like :meth:`IndexProjector.apply` (same result, same errors).

        Raises:
            EventNotReadyError: An earlier event of the same artifact is still missing.
            EventRejectedError: The event contradicts the index; nothing of it is pending.
        """
        done = self.apply_fast(event)
        if done is not None:
            return done
        return await self.apply_slow(conn, event)

    def apply_fast(self, event: EventBase) -> bool | None:
        """Apply ``event`` in memory; None when it needs :meth:`apply_slow`.

        Every check comes before any change: a rejected event leaves nothing pending.
        """
        if event.event_id in self.seen:
            return False
        if isinstance(event, ArtifactCreated):
            if not self._created(event):
                return None
        elif isinstance(event, SessionSealed):
            key = (event.tenant_id, event.session_id)
            self._touch(key, event.occurred_at)
            self._seals.setdefault(key, event.occurred_at)
        elif isinstance(event, ArtifactVersioned | ArtifactShared | ArtifactUpdated):
            state = self.artifacts.get(event.artifact_id)
            if state is not None and state.slow:
                return None
            state = self._check_advance(state, event)
            if isinstance(event, ArtifactVersioned):
                self._versioned(state, event)
            elif isinstance(event, ArtifactShared):
                self._shared(state, event)
            else:
                self._updated(state, event)
            self._set(state, {"revision": event.seq, "updated_at": event.occurred_at})
            state.revision = event.seq
        else:
            return None
        self._processed(event)
        return True

    async def apply_slow(self, conn: AsyncConnection, event: EventBase) -> bool:
        """Write what is pending, then :meth:`IndexProjector.apply` the event."""
        await self.flush(conn)
        applied = await self.projector.apply(conn, event, usage=self.usage)
        self.seen.add(event.event_id)
        if applied and isinstance(event, ArtifactEvent):
            state = self.artifacts.get(event.artifact_id)
            if state is None:  # pragma: no cover - only creates make artifacts, on the fast path
                state = self.artifacts[event.artifact_id] = _Artifact(
                    event.artifact_id, event.tenant_id, event.seq, 1, {}, live=True, in_db=True
                )
            state.revision = event.seq
            state.slow = True
        return applied

    def _processed(self, event: EventBase) -> None:
        self.seen.add(event.event_id)
        self._inserts["processed_events"].append(
            {
                "event_id": event.event_id,
                "event_type": event.type,
                "applied_at": self._now,
                "digest": event_digest(event),
            }
        )

    def _check_advance(self, state: _Artifact | None, event: ArtifactEvent) -> _Artifact:
        """The checks of ``IndexProjector._advance``, with its words."""
        check_sequence(event, state)
        assert state is not None  # check_sequence raised otherwise
        if isinstance(event, ArtifactVersioned) and event.version != state.version + 1:
            raise EventRejectedError(
                f"version {event.version} of {event.artifact_id} does not follow "
                f"version {state.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        return state

    def _set(self, state: _Artifact, values: dict[str, Any]) -> None:
        if state.row is not None:
            state.row.update(values)
        else:
            state.changes.update(values)

    def _created(self, event: ArtifactCreated) -> bool:
        state = self.artifacts.get(event.artifact_id)
        if state is not None:
            if state.slow:
                return False
            raise EventRejectedError(
                f"artifact {event.artifact_id} already exists", artifact_id=event.artifact_id
            )
        row = created_artifact_row(event)
        self.artifacts[event.artifact_id] = _Artifact(
            artifact_id=event.artifact_id,
            tenant_id=event.tenant_id,
            revision=1,
            version=1,
            metadata=event.metadata,
            live=True,
            in_db=False,
            row=row,
        )
        self._inserts["artifacts"].append(row)
        self._version_row(event, 1, event.metadata)
        self._labels[(event.artifact_id, "label")] = event.labels
        self._labels[(event.artifact_id, "metadata")] = event.metadata
        self._tags[event.artifact_id] = event.tags
        if event.lineage is not None:
            self._lineage(event, 1)
        if event.session_id:
            self._touch((event.tenant_id, event.session_id), event.occurred_at)
        add_usage(self.usage, event.tenant_id, event.size_bytes, 1)
        return True

    def _version_row(
        self, event: ArtifactCreated | ArtifactVersioned, version: int, metadata: Any
    ) -> None:
        self._inserts["artifact_versions"].append(
            {
                "artifact_id": event.artifact_id,
                "version": version,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
                "deleted_at": None,
            }
        )

    def _lineage(self, event: ArtifactCreated | ArtifactVersioned, version: int) -> None:
        assert event.lineage is not None
        row, inputs = lineage_rows(event, version, event.lineage)
        self._inserts["artifact_lineage"].append(row)
        self._inserts["lineage_inputs"] += inputs

    def _versioned(self, state: _Artifact, event: ArtifactVersioned) -> None:
        metadata = state.metadata if event.metadata is None else event.metadata
        self._version_row(event, event.version, metadata)
        if event.lineage is not None:
            self._lineage(event, event.version)
        self._set(state, versioned_artifact_values(event, metadata))
        state.version = event.version
        state.metadata = metadata
        if event.metadata is not None:
            self._replace_pairs(state, event.artifact_id, "metadata", event.metadata)
        if state.live:
            add_usage(self.usage, event.tenant_id, event.size_bytes, 1)

    def _shared(self, state: _Artifact, event: ArtifactShared) -> None:
        for principal in event.revokes:
            key = (event.artifact_id, principal.type, principal.id)
            self._access[key] = None
            if state.in_db:
                self._access_deletes.add(key)
        for principal in event.grants:
            key = (event.artifact_id, principal.type, principal.id)
            if self._access.get(key) is None:  # unknown here (the row may exist), or revoked
                self._access[key] = {
                    "artifact_id": event.artifact_id,
                    "principal_type": principal.type,
                    "principal_id": principal.id,
                    "granted_by": event.actor,
                    "granted_at": event.occurred_at,
                }

    def _updated(self, state: _Artifact, event: ArtifactUpdated) -> None:
        values = updated_artifact_values(event)
        if values:
            self._set(state, values)
        if event.metadata is not None:
            state.metadata = event.metadata
            self._replace_pairs(state, event.artifact_id, "metadata", event.metadata)
        if event.labels is not None:
            self._replace_pairs(state, event.artifact_id, "label", event.labels)
        if event.tags is not None:
            self._tags[event.artifact_id] = event.tags
            if state.in_db:
                self._tag_deletes.add(event.artifact_id)

    def _replace_pairs(
        self, state: _Artifact, artifact_id: str, source: str, pairs: dict[str, Any]
    ) -> None:
        self._labels[(artifact_id, source)] = pairs
        if state.in_db:
            self._label_deletes.add((artifact_id, source))

    def _touch(self, key: tuple[str, str], at: datetime) -> None:
        earliest = self._touches.get(key)
        if earliest is None or at < earliest:
            self._touches[key] = at

    # ------------------------------------------------------------------ writing

    async def flush(self, conn: AsyncConnection) -> None:
        """Write everything pending: a few ``executemany`` per table."""
        inserts = self._inserts
        updates: dict[tuple[str, ...], list[_Artifact]] = {}
        for state in self.artifacts.values():
            if state.changes:
                updates.setdefault(tuple(sorted(state.changes)), []).append(state)
        await self._insert(conn, "artifacts", inserts["artifacts"])
        for columns, states in updates.items():
            await executemany(
                conn,
                artifact_update(columns),
                [self._update_params(columns, state) for state in states],
            )
        await self._insert(conn, "artifact_versions", inserts["artifact_versions"])
        await self._delete(
            conn,
            _DELETE_LABELS,
            [{"b_artifact_id": a, "b_source": s} for a, s in sorted(self._label_deletes)],
        )
        await self._insert(
            conn,
            "artifact_labels",
            [row for (a, s), pairs in self._labels.items() for row in label_rows(a, s, pairs)],
        )
        await self._delete(
            conn, _DELETE_TAGS, [{"b_artifact_id": a} for a in sorted(self._tag_deletes)]
        )
        await self._insert(
            conn,
            "artifact_tags",
            [row for a, tags in self._tags.items() for row in tag_rows(a, tags)],
        )
        await self._delete(
            conn,
            _DELETE_ACCESS,
            [
                {"b_artifact_id": a, "b_principal_type": kind, "b_principal_id": pid}
                for a, kind, pid in sorted(self._access_deletes)
            ],
        )
        grants = [row for row in self._access.values() if row is not None]
        await executemany(conn, insert_ignore(conn, "access_entries"), grants)
        await self._insert(conn, "artifact_lineage", inserts["artifact_lineage"])
        await self._insert(conn, "lineage_inputs", inserts["lineage_inputs"])
        if self._touches:
            await executemany(
                conn,
                session_touch(conn),
                [
                    {"tenant_id": tenant, "session_id": session, "created_at": at}
                    for (tenant, session), at in sorted(self._touches.items())
                ],
            )
        if self._seals:
            await executemany(
                conn,
                SEAL_SESSION,
                [
                    {"b_tenant_id": tenant, "b_session_id": session, "b_sealed_at": at}
                    for (tenant, session), at in sorted(self._seals.items())
                ],
            )
        await self._insert(conn, "processed_events", inserts["processed_events"])
        for state in self.artifacts.values():
            state.in_db = True
            state.row = None
            state.changes = {}
        self._clear()

    @staticmethod
    def _update_params(columns: tuple[str, ...], state: _Artifact) -> dict[str, Any]:
        params = {f"b_{name}": state.changes[name] for name in columns}
        params["b_artifact_id"] = state.artifact_id
        return params

    async def finish(self, conn: AsyncConnection) -> None:
        """Write what is pending and the tenants' storage deltas."""
        await self.flush(conn)
        await write_usage(conn, self.usage)
        self.usage = {}

    @staticmethod
    async def _insert(conn: AsyncConnection, table: str, rows: list[dict[str, Any]]) -> None:
        await executemany(conn, _INSERT[table], rows)

    @staticmethod
    async def _delete(conn: AsyncConnection, statement: Delete, rows: list[dict[str, Any]]) -> None:
        await executemany(conn, statement, rows)
