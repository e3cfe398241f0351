"""What a batch projection has pending, and how it is written: a few executemany per table.

A base class of :class:`~artifact_hub.adapters.index.batch_projector.BatchProjection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Delete,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index.batch_sql import (
    _DELETE_ACCESS,
    _DELETE_LABELS,
    _DELETE_TAGS,
    _INSERT,
    executemany,
)
from artifact_hub.adapters.index.projector import (
    SEAL_SESSION,
    Usage,
    artifact_update,
    insert_ignore,
    label_rows,
    session_touch,
    tag_rows,
    write_usage,
)


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


class BatchPending:
    """The rows a batch has computed but not written yet, and :meth:`flush` that writes them."""

    usage: Usage
    artifacts: dict[str, _Artifact]

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
