"""Builders of events and databases shared by the tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    Principal,
    SessionSealed,
)

_counter = itertools.count()
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def sha(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def created(artifact_id: str | None = None, **fields: Any) -> ArtifactCreated:
    n = next(_counter)
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "artifact_id": artifact_id or f"art_{n:016d}",
        "name": f"file-{n}.txt",
        "agent_id": "agent-a",
        "sha256": sha(str(n)),
        "size_bytes": 10 + n,
        "occurred_at": BASE_TIME + timedelta(seconds=n),
    }
    values.update(fields)
    return ArtifactCreated(**values)


def history(
    artifact_id: str, *, tenant_id: str = "t1", session_id: str | None = None
) -> list[EventBase]:
    """A mixed history of one artifact: create, 2 versions, share, unshare, pin, delete v1."""
    first = created(
        artifact_id,
        tenant_id=tenant_id,
        session_id=session_id,
        labels={"k": "v"},
        tags=["x", "y"],
        metadata={"m": 1},
    )
    at = first.occurred_at
    return [
        first,
        ArtifactVersioned(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=2,
            version=2,
            sha256=sha(artifact_id + "2"),
            size_bytes=2,
            occurred_at=at + timedelta(seconds=1),
        ),
        ArtifactShared(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=3,
            grants=[Principal(type="agent", id="agent-b"), Principal(type="group", id="g1")],
            occurred_at=at + timedelta(seconds=2),
        ),
        ArtifactVersioned(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=4,
            version=3,
            sha256=sha(artifact_id + "3"),
            size_bytes=3,
            metadata={"m": 3},
            occurred_at=at + timedelta(seconds=3),
        ),
        ArtifactShared(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=5,
            revokes=[Principal(type="agent", id="agent-b")],
            occurred_at=at + timedelta(seconds=4),
        ),
        ArtifactUpdated(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=6,
            pinned=True,
            labels={"k": "w", "n": 2},
            occurred_at=at + timedelta(seconds=5),
        ),
        ArtifactDeleted(
            tenant_id=tenant_id,
            artifact_id=artifact_id,
            seq=7,
            version=1,
            occurred_at=at + timedelta(seconds=6),
        ),
    ]


def sealed(session_id: str, tenant_id: str = "t1") -> SessionSealed:
    return SessionSealed(tenant_id=tenant_id, session_id=session_id)
