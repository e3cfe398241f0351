"""An upload request checked up front and turned into ``ArtifactService.push`` arguments."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.api import UploadUrlRequest
from artifact_hub.schemas.events import ArtifactCreated
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import TTL

# Fields of the request that are not push() arguments (or are mapped by hand).
_NOT_PUSH_FIELDS = frozenset(
    {
        "content_base64",
        "agent_id",
        "size_bytes",
        "sha256",
        "ttl_seconds",
        "never_expires",
    }
)


def _ttl(request: UploadUrlRequest) -> TTL:
    if request.never_expires:
        return "never"
    return request.ttl_seconds


def _push_fields(request: UploadUrlRequest) -> dict[str, Any]:
    """The request's fields as ``ArtifactService.push`` keyword arguments."""
    fields = {
        name: value
        for name, value in request.model_dump(exclude_none=True).items()
        if name not in _NOT_PUSH_FIELDS
    }
    fields.setdefault("name", "artifact")
    return fields


def _validate(caller: Caller, request: UploadUrlRequest, artifact_id: str) -> None:
    """Check the request's fields as the event built at ``complete`` will.

    Raises:
        InvalidRequestError: Any field that would make that event invalid.
    """
    if request.content_base64 is not None:
        raise InvalidRequestError("content_base64 is not accepted here; PUT the bytes instead")
    if request.sha256 is not None and (
        len(request.sha256) != 64 or any(c not in "0123456789abcdef" for c in request.sha256)
    ):
        raise InvalidRequestError("sha256 must be 64 lowercase hex characters")
    fields = _push_fields(request)
    fields.pop("session_id", None)
    try:
        ArtifactCreated(
            tenant_id=caller.tenant_id,
            artifact_id=artifact_id,
            sha256=request.sha256 or "0" * 64,
            size_bytes=request.size_bytes,
            agent_id=caller.agent_id,
            **{**fields, "namespace": request.namespace or caller.namespace},
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequestError(f"{where}: {first.get('msg', 'invalid')}") from error
