"""What a name reference (``report.txt``, ``report.txt:latest``, ``report.txt:v3``) resolves to."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.artifacts import Artifact

__all__ = ["ArtifactRef", "parse_ref"]


class ArtifactRef(BaseModel):
    """A resolved reference: the artifact, and the version the alias names.

    Attributes:
        ref: The reference as given.
        artifact_id: The artifact it names (the newest readable one with that name).
        name: The artifact's name.
        version: The version the alias names (``latest``: the current one).
        artifact: The artifact's metadata, at its current version.
    """

    model_config = ConfigDict(frozen=True)

    ref: str
    artifact_id: str
    name: str
    version: int
    artifact: Artifact


_ALIAS = re.compile(r"^(?:latest|v([1-9][0-9]{0,9}))$")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split a reference into the name and the version it names (None: latest).

    Raises:
        InvalidRequestError: An empty name.

    Example:
        >>> parse_ref("report.txt:v3")
        ('report.txt', 3)
        >>> parse_ref("report.txt")
        ('report.txt', None)
    """
    name, sep, alias = ref.rpartition(":")
    match = _ALIAS.fullmatch(alias) if sep else None
    if match is None:
        name, version = ref, None
    else:
        version = int(match.group(1)) if match.group(1) else None
    if not name:
        raise InvalidRequestError("a reference needs a name: NAME, NAME:latest or NAME:vN")
    return name, version
