"""The caller's values as validated models and the artifact a create event records."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator, Sequence

from pydantic import ValidationError

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.artifacts import Artifact, Principal
from artifact_hub.schemas.events import ArtifactCreated

_SCOPE_FIELDS = frozenset(
    {
        "run_id",
        "graph_id",
        "node_id",
        "tool_name",
        "tool_version",
        "org_id",
        "user_id",
        "client_id",
        "app_id",
        "uri",
        "preview_uri",
    }
)


def _created_artifact(event: ArtifactCreated) -> Artifact:
    """The artifact as :class:`IndexProjector` records an ``artifact.created`` event."""
    fields = event.model_dump(
        include={
            "artifact_id", "tenant_id", "namespace", "name", "agent_id", "session_id", "kind",
            "content_type", "sha256", "size_bytes", "metadata", "labels", "tags", "metrics",
            "pinned", "uri", "preview_uri", "run_id", "graph_id", "node_id", "tool_name",
            "tool_version", "org_id", "user_id", "client_id", "app_id", "expires_at",
        }
    )  # fmt: skip
    return Artifact(**fields, version=1, created_at=event.occurred_at, updated_at=event.occurred_at)


def _principals(agents: Sequence[str], groups: Sequence[str]) -> builtins.list[Principal]:
    with _invalid_request():
        return [Principal(type="agent", id=a) for a in agents] + [
            Principal(type="group", id=g) for g in groups
        ]


@contextlib.contextmanager
def _invalid_request() -> Iterator[None]:
    """Turn a model's validation failure into ``invalid_request`` (the caller's values)."""
    try:
        yield
    except ValidationError as error:
        details = error.errors()
        if not details:
            raise InvalidRequestError(str(error)) from None
        where = ".".join(str(part) for part in details[0]["loc"]) or "value"
        raise InvalidRequestError(f"{where}: {details[0]['msg']}") from None
