"""What an event makes of index rows: its sequence check and the rows and values it writes.

Shared by the one-by-one projection (:mod:`projector`) and the batch projection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from artifact_hub.adapters.index.canonical_json import label_value
from artifact_hub.core.errors import EventNotReadyError, EventRejectedError
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactEvent,
    ArtifactUpdated,
    ArtifactVersioned,
)
from artifact_hub.schemas.lineage import Lineage

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
