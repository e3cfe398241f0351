"""The rules every change obeys, whoever asks for it.

Two doors lead to the index: the service layer (:class:`ArtifactService`, behind the API, the
SDK, the CLI, the facade and the workflow steps) and message-bus ingestion (agents' events
checked by :class:`~artifact_hub.consumers.validation.IngestValidator`). Both ask
:class:`WriteRules` the same questions (metadata size, the plan's file size, the storage
quota, an open session, lineage inputs the writer may name), so the two cannot drift apart.
Each check raises the hub's own error (``session_sealed``, ``file_too_large``,
``quota_exceeded``, ...): the API answers it with its status, ingestion turns it into the
dead-letter reason of the same name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import lock_artifact
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.core.errors import (
    ArtifactNotFoundError,
    InvalidRequestError,
    SessionSealedError,
    VersionNotFoundError,
)
from artifact_hub.schemas.fields import JsonObject, Labels
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import Lineage
from artifact_hub.service.plans import PlanLimits, check_metadata

__all__ = ["WriteRules"]

_LABELS: TypeAdapter[dict[str, Any] | None] = TypeAdapter(Labels | None)
_METRICS: TypeAdapter[dict[str, Any] | None] = TypeAdapter(JsonObject | None)


class WriteRules:
    """The checks of a write, shared by the service layer and bus ingestion.

    Args:
        limits: The plans' limits.
        reader: The index queries (sessions, visibility).
    """

    def __init__(self, limits: PlanLimits | None = None, reader: IndexReader | None = None):
        self.limits = limits or PlanLimits()
        self.reader = reader or IndexReader()

    @staticmethod
    def metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        """The metadata, checked (keys and size; ``invalid_request`` otherwise)."""
        return check_metadata(metadata)

    @staticmethod
    def values(labels: dict[str, Any] | None, metrics: dict[str, Any] | None) -> None:
        """Labels and metrics hold JSON every index stores alike (``invalid_request``).

        No NaN or infinity (on SQLite it would be stored and break every later metric
        search of the tenant), no NUL byte or lone surrogate, no deep nesting; label keys
        of 1 to 128 characters. The limits are those of the API's bodies (schemas/fields.py).
        """
        for where, adapter, value in (("labels", _LABELS, labels), ("metrics", _METRICS, metrics)):
            try:
                adapter.validate_python(value)
            except ValidationError as error:
                raise InvalidRequestError(f"{where}: {error.errors()[0]['msg']}") from None

    def size(self, caller: Caller, size: int, path_limit: int | None = None) -> None:
        """``size`` bytes fit the plan and the path's own limit (else ``file_too_large``)."""
        self.limits.check_size(caller, size, path_limit)

    async def quota(
        self, conn: AsyncConnection, caller: Caller, new_bytes: int, now: datetime, *, lock: bool
    ) -> None:
        """``new_bytes`` more fit the tenant's storage quota (else ``quota_exceeded``).

        With ``lock`` (inside the write transaction) the tenant's writes are serialized first,
        so two concurrent ones cannot both fit and together exceed it.
        """
        if not self.limits.locks_tenant(caller):
            return
        if lock:
            await lock_artifact(conn, f"tenant:{caller.tenant_id}")
        await self.limits.check_quota(conn, caller, new_bytes, now)

    async def session_open(self, conn: AsyncConnection, tenant_id: str, session_id: str) -> None:
        """The session takes writes (else ``session_sealed``)."""
        session = await self.reader.session(conn, tenant_id, session_id)
        if session is not None and session.sealed:
            raise SessionSealedError(
                f"Session {session_id} is sealed; use a new session.", session_id=session_id
            )

    async def lineage_readable(
        self, conn: AsyncConnection, caller: Caller, lineage: Lineage | None
    ) -> None:
        """Every input of ``lineage`` is an artifact version the caller may read.

        Otherwise a caller could hang its artifact below one it cannot see (and so show up in
        that artifact's lineage).
        """
        if lineage is None or not lineage.inputs:
            return
        wanted = {i.artifact_id for i in lineage.inputs}
        a = t.artifacts.c
        readable = set(
            await conn.scalars(
                select(a.artifact_id).where(
                    and_(a.artifact_id.in_(sorted(wanted)), self.reader.visible_to(caller))
                )
            )
        )
        v = t.artifact_versions.c
        rows = await conn.execute(
            select(v.artifact_id, v.version).where(v.artifact_id.in_(sorted(readable)))
        )
        versions = {(row.artifact_id, row.version) for row in rows}
        for item in lineage.inputs:
            if item.artifact_id not in readable:
                raise ArtifactNotFoundError(
                    f"lineage input {item.artifact_id} was not found.",
                    artifact_id=item.artifact_id,
                )
            if (item.artifact_id, item.version) not in versions:
                raise VersionNotFoundError(
                    f"lineage input {item.artifact_id} has no version {item.version}.",
                    artifact_id=item.artifact_id,
                    version=item.version,
                )

    @staticmethod
    async def lineage_in_tenant(
        conn: AsyncConnection, tenant_id: str, lineage: Lineage | None
    ) -> str | None:
        """The first lineage input that is another tenant's artifact, or None.

        For events from the bus, whose inputs may not be in the index yet (topics are not
        ordered between each other): unknown inputs pass, and reads of the lineage only ever
        show artifacts of the reader's tenant.
        """
        if lineage is None or not lineage.inputs:
            return None
        ids = sorted({i.artifact_id for i in lineage.inputs})
        a = t.artifacts.c
        foreign: str | None = await conn.scalar(
            select(a.artifact_id).where(a.artifact_id.in_(ids), a.tenant_id != tenant_id).limit(1)
        )
        return foreign
