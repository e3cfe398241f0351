"""Pending presigned uploads as the upload service keeps them (the ``uploads`` table).

A pending upload is a record, not an artifact: it names where its bytes are staged and the
artifact id chosen up front, and is marked complete once its artifact is pushed (kept so a
second ``complete`` answers the same). The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.uploads.SqlUploadStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from artifact_hub.ports.transactions import Transaction

__all__ = ["UploadRecord", "UploadStore"]


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One presigned upload, pending or completed."""

    upload_id: str
    tenant_id: str
    agent_id: str | None
    request: dict[str, Any]
    """The upload request as JSON (``UploadUrlRequest``, ``None`` fields left out)."""
    size_bytes: int
    sha256: str | None
    staging_key: str
    """Where the bytes wait (``staging/<id>``, ``staged/<id>``, or with ``#<S3 upload id>``)."""
    created_at: datetime
    expires_at: datetime
    artifact_id: str
    completed_at: datetime | None = None


class UploadStore(Protocol):
    """Reads and writes pending uploads inside the caller's transaction."""

    async def add(self, conn: Transaction, upload: UploadRecord) -> None:
        """Record a new pending upload."""
        ...

    async def get(
        self, conn: Transaction, upload_id: str, *, tenant_id: str | None = None
    ) -> UploadRecord | None:
        """The upload (within ``tenant_id`` when given), or None."""
        ...

    async def mark_completed(self, conn: Transaction, upload_id: str, at: datetime) -> None:
        """Record that the upload's artifact was pushed."""
        ...

    async def stale(self, conn: Transaction, cutoff: datetime) -> list[tuple[str, str]]:
        """``(upload_id, staging_key)`` of every pending upload that expired before ``cutoff``."""
        ...

    async def forget_pending(self, conn: Transaction, upload_id: str) -> None:
        """Delete the upload unless it was completed meanwhile."""
        ...
