"""Resolve ``name[:alias]`` references to an artifact and a version.

A reference is an artifact's name, optionally followed by ``:latest`` (the current version, the
default) or ``:v<N>`` (version N). Names may themselves hold a colon: only a suffix that reads
as an alias is taken as one (``run:7`` is the name ``run:7``). The name is looked up in the
caller's tenant and namespace (optionally one session) among what the caller may read; when
several artifacts carry it, the newest wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artifact_hub.core.errors import ArtifactNotFoundError, VersionNotFoundError
from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lookup import ArtifactRef, parse_ref

if TYPE_CHECKING:
    from artifact_hub.service.artifacts import ArtifactService

__all__ = ["parse_ref", "resolve_ref"]


async def resolve_ref(
    service: ArtifactService,
    caller: Caller,
    ref: str,
    *,
    session_id: str | None = None,
    namespace: str | None = None,
) -> ArtifactRef:
    """The artifact and version ``ref`` names for ``caller``.

    Args:
        service: The artifact service.
        caller: Whose tenant, namespace and read rights apply.
        ref: ``NAME``, ``NAME:latest`` or ``NAME:vN``.
        session_id: Look only in this session.
        namespace: Look in this namespace (default: the caller's).

    Raises:
        InvalidRequestError: An empty name.
        ArtifactNotFoundError: No readable live artifact has that name.
        VersionNotFoundError: The artifact has no live version N.
    """
    name, version = parse_ref(ref)
    page = await service.list(
        caller,
        ArtifactFilter(name=name, namespace=namespace or caller.namespace, session_id=session_id),
        limit=1,
    )
    if not page.items:
        where = f" in session {session_id}" if session_id else ""
        raise ArtifactNotFoundError(
            f"no artifact named {name!r}{where} in namespace {namespace or caller.namespace}",
            name=name,
        )
    artifact = page.items[0]
    if version is None:
        version = artifact.version
    elif version not in {row.version for row in await service.versions(caller, artifact.id)}:
        raise VersionNotFoundError(
            f"{name} ({artifact.id}) has no version {version}",
            artifact_id=artifact.id,
            version=version,
        )
    return ArtifactRef(
        ref=ref, artifact_id=artifact.id, name=artifact.name, version=version, artifact=artifact
    )
