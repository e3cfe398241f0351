"""Small pure helpers of the facade: file and folder names, URI segments, search requests."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    InvalidRequestError,
)
from artifact_hub.facade.uris import artifact_uri
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.search import SearchRequest

_GONE = (ArtifactNotFoundError, ArtifactDeletedError, ArtifactExpiredError)


def _folder_name(root: Path) -> str:
    """The folder's own name (``.`` and trailing slashes resolved), pure string work."""
    parts = [part for part in PurePosixPath(root.as_posix()).parts if part not in ("", ".")]
    return parts[-1] if parts and parts[-1] not in ("/", "..") else "directory"


def _view(artifact: Artifact) -> Artifact:
    """The artifact with its hub URI when it was stored without one."""
    if artifact.uri:
        return artifact
    return artifact.model_copy(update={"uri": artifact_uri(artifact.artifact_id)})


def _filename(name: str | None, suggested_uri: str | None, fallback: str) -> str:
    """The file name: ``name``, else the last segment of ``suggested_uri``, else fallback."""
    for candidate in (name, _last_segment(suggested_uri)):
        if candidate:
            return candidate
    return fallback


def _last_segment(uri: str | None) -> str | None:
    """The last path segment of a URI or path (None for a bare ``s3://bucket``)."""
    if not uri:
        return None
    path = uri.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if "://" in path:
        path = path.split("://", 1)[1]
        if "/" not in path:
            return None  # only a host or bucket
    segment = path.rsplit("/", 1)[-1]
    return segment if segment not in ("", ".", "..") else None


def _extension(ext: str | None) -> str:
    if not ext:
        return ""
    if "/" in ext or "\\" in ext or "\x00" in ext:
        raise InvalidRequestError("a file extension must not contain path separators")
    return ext if ext.startswith(".") else "." + ext


def _search_request(**fields: Any) -> SearchRequest:
    """The request, or ``InvalidRequestError`` saying what is wrong with it."""
    try:
        return SearchRequest(**fields)
    except ValidationError as error:
        problems = "; ".join(str(item["msg"]) for item in error.errors())
        raise InvalidRequestError(f"invalid search: {problems}") from error
