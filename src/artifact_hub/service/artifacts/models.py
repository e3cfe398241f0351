"""The caller's values as commands and validated models; the artifact a create event records."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.artifacts import Artifact, Principal
from artifact_hub.schemas.commands import SCOPE_FIELDS
from artifact_hub.schemas.events import ArtifactCreated

_C = TypeVar("_C")


def _command(command: _C | None, fields: dict[str, Any], build: Callable[..., _C]) -> _C:
    """The command a use case was given: as is, or built from its keyword fields."""
    if command is None:
        return build(**fields)
    if fields:
        raise TypeError(f"give a command or keyword fields, not both: {', '.join(sorted(fields))}")
    return command


def _created_artifact(event: ArtifactCreated) -> Artifact:
    """The artifact as :class:`IndexProjector` records an ``artifact.created`` event."""
    fields = event.model_dump(
        include={
            "artifact_id", "tenant_id", "namespace", "name", "agent_id", "session_id", "kind",
            "content_type", "sha256", "size_bytes", "metadata", "labels", "tags", "metrics",
            "pinned", "expires_at", *SCOPE_FIELDS,
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
