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

from artifact_hub.core.errors import (
    ArtifactNotFoundError,
    InvalidRequestError,
    SessionSealedError,
    VersionNotFoundError,
)
from artifact_hub.ports.artifacts import ArtifactStore
from artifact_hub.ports.index import IndexReads
from artifact_hub.ports.transactions import Transaction
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
        reader: The index queries (sessions).
        store: The write path's locks and questions (usage, readable lineage inputs).
        limits: The plans' limits.
    """

    def __init__(
        self, reader: IndexReads, store: ArtifactStore, limits: PlanLimits | None = None
    ) -> None:
        self.reader = reader
        self.store = store
        self.limits = limits or PlanLimits()

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
        self, conn: Transaction, caller: Caller, new_bytes: int, now: datetime, *, lock: bool
    ) -> None:
        """``new_bytes`` more fit the tenant's storage quota (else ``quota_exceeded``).

        With ``lock`` (inside the write transaction) the tenant's writes are serialized first,
        so two concurrent ones cannot both fit and together exceed it.
        """
        if not self.limits.locks_tenant(caller):
            return
        if lock:
            await self.store.lock_tenant(conn, caller.tenant_id)
        used = await self.store.storage_used(conn, caller.tenant_id, now)
        self.limits.check_quota(caller, used, new_bytes)

    async def session_open(self, conn: Transaction, tenant_id: str, session_id: str) -> None:
        """The session takes writes (else ``session_sealed``)."""
        session = await self.reader.session(conn, tenant_id, session_id)
        if session is not None and session.sealed:
            raise SessionSealedError(
                f"Session {session_id} is sealed; use a new session.", session_id=session_id
            )

    async def lineage_readable(
        self, conn: Transaction, caller: Caller, lineage: Lineage | None
    ) -> None:
        """Every input of ``lineage`` is an artifact version the caller may read.

        Otherwise a caller could hang its artifact below one it cannot see (and so show up in
        that artifact's lineage).
        """
        if lineage is None or not lineage.inputs:
            return
        readable = await self.store.readable_versions(
            conn, caller, {i.artifact_id for i in lineage.inputs}
        )
        for item in lineage.inputs:
            versions = readable.get(item.artifact_id)
            if versions is None:
                raise ArtifactNotFoundError(
                    f"lineage input {item.artifact_id} was not found.",
                    artifact_id=item.artifact_id,
                )
            if item.version not in versions:
                raise VersionNotFoundError(
                    f"lineage input {item.artifact_id} has no version {item.version}.",
                    artifact_id=item.artifact_id,
                    version=item.version,
                )

    async def lineage_in_tenant(
        self, conn: Transaction, tenant_id: str, lineage: Lineage | None
    ) -> str | None:
        """The first lineage input that is another tenant's artifact, or None.

        For events from the bus, whose inputs may not be in the index yet (topics are not
        ordered between each other): unknown inputs pass, and reads of the lineage only ever
        show artifacts of the reader's tenant.
        """
        if lineage is None or not lineage.inputs:
            return None
        return await self.store.foreign_artifact(
            conn, tenant_id, {i.artifact_id for i in lineage.inputs}
        )
