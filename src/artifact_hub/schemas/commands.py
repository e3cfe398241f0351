"""The artifact service's write commands: each command's fields, defined once.

Every entry point that writes (the REST routes, the facade, the workflow steps, presigned
uploads) builds one of these and hands it to :class:`~artifact_hub.service.artifacts.
ArtifactService`; none spells the service's keywords itself. The commands only carry the
caller's values: the service validates them (through the event it builds) and answers
``invalid_request`` for bad ones, whoever asked.

The REST bodies (:mod:`artifact_hub.schemas.api`) stay their own models: they are the wire
format (aliases, strict JSON types, the OpenAPI document), and :meth:`PushArtifact.from_body`
is the one place that maps a create body to a command.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.lineage import Lineage

if TYPE_CHECKING:
    from artifact_hub.schemas.api import CreateArtifact

__all__ = [
    "PUSH_FIELDS",
    "SCOPE_FIELDS",
    "TTL",
    "AddVersion",
    "PushArtifact",
    "Scope",
    "ShareArtifact",
    "body_ttl",
]

TTL = timedelta | int | float | Literal["never"] | None
"""A time to live: a timedelta or seconds, ``"never"``, or None for the hub's default."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where an artifact was made: run, workflow graph and node, tool, org/user/client/app.

    Recorded on the artifact (and filterable); every field is optional.
    """

    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    uri: str | None = None
    preview_uri: str | None = None

    @classmethod
    def of(cls, source: object, *, skip_empty: bool = False) -> Scope:
        """The scope fields of any object with attributes of those names (missing: None).

        Args:
            source: A request body, a run context, ...
            skip_empty: Take empty strings as None too.
        """
        values = {name: getattr(source, name, None) for name in SCOPE_FIELDS}
        return cls(**{k: v for k, v in values.items() if v is not None and (v or not skip_empty)})

    def fields(self) -> dict[str, str]:
        """The fields that are set, by name (keyword arguments of the SDK's ``push``)."""
        return {name: value for name in SCOPE_FIELDS if (value := getattr(self, name)) is not None}

    def with_lineage(self, lineage: Lineage | None) -> Scope:
        """This scope, its run, graph and node filled from ``lineage`` where not set."""
        if lineage is None:
            return self
        return dataclasses.replace(
            self,
            run_id=self.run_id if self.run_id is not None else lineage.run_id,
            graph_id=self.graph_id if self.graph_id is not None else lineage.workflow_id,
            node_id=self.node_id if self.node_id is not None else lineage.step_id,
        )


SCOPE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Scope))
"""The names of :class:`Scope`'s fields, in order."""


@dataclass(frozen=True)
class PushArtifact:
    """Store new content as a new artifact (version 1).

    Attributes:
        name: The artifact's name (default: the file's name, or ``"artifact"``).
        session_id: The session to file it under; fails if that session is sealed.
        content_type: The MIME type.
        kind: The facade's kind (``"text"``, ``"dataset"``, ...).
        metadata: Free JSON metadata (keys ``^[a-zA-Z][a-zA-Z0-9_-]{0,63}$``).
        labels: Key/values to filter on.
        tags: Tags to filter on.
        metrics: Numbers (``best()`` ranks by them).
        pinned: Pinned artifacts are kept by clean-ups.
        ttl: Time to live; None takes the hub's default, ``"never"`` keeps it forever.
        namespace: The team namespace (default: the caller's).
        expected_sha256: Fail with ``checksum_mismatch`` unless the bytes hash to this.
        max_size: Fail with ``file_too_large`` past this many bytes.
        artifact_id: Use this id (an ingested event's, an upload's) instead of a new one.
        lineage: The workflow run and step saving it, and the artifact versions it was made
            from (each must be readable by the caller). Its run, workflow and step fill the
            scope's ``run_id``, ``graph_id`` and ``node_id`` unless those are given.
        scope: Where it was made (run, graph, node, tool, org, ...).
    """

    name: str | None = None
    session_id: str | None = None
    content_type: str | None = None
    kind: str | None = None
    metadata: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    tags: Sequence[str] = ()
    metrics: dict[str, Any] | None = None
    pinned: bool = False
    ttl: TTL = None
    namespace: str | None = None
    expected_sha256: str | None = None
    max_size: int | None = None
    artifact_id: str | None = None
    lineage: Lineage | None = None
    scope: Scope = Scope()

    @classmethod
    def from_fields(cls, **fields: Any) -> PushArtifact:
        """The command from keyword fields, the scope's among them (``run_id=...``).

        Raises:
            InvalidRequestError: A field that is neither the command's nor the scope's.
        """
        scope = {name: fields.pop(name) for name in SCOPE_FIELDS if name in fields}
        unknown = set(fields) - set(PUSH_FIELDS)
        if unknown:
            raise InvalidRequestError(f"unknown artifact fields: {', '.join(sorted(unknown))}")
        if scope:
            fields["scope"] = dataclasses.replace(fields.get("scope") or Scope(), **scope)
        return cls(**fields)

    @classmethod
    def from_body(
        cls,
        body: CreateArtifact,
        *,
        name: str | None,
        content_type: str | None,
        namespace: str | None,
        max_size: int | None,
    ) -> PushArtifact:
        """The command a REST create body asks for.

        Args:
            body: The body (JSON, or a multipart form's fields).
            name: The name to give (the body's, or the file part's).
            content_type: The type to record (the body's, the file part's, or guessed).
            namespace: The namespace (the body's, or the caller's).
            max_size: The upload path's own size limit.

        Raises:
            InvalidRequestError: Both ``ttl_seconds`` and ``never_expires``.
        """
        return cls(
            name=name,
            session_id=body.session_id,
            content_type=content_type,
            kind=body.kind,
            metadata=body.metadata,
            labels=body.labels,
            tags=body.tags or (),
            metrics=body.metrics,
            pinned=body.pinned,
            ttl=body_ttl(body),
            namespace=namespace,
            expected_sha256=body.sha256,
            max_size=max_size,
            scope=Scope.of(body),
        )


PUSH_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PushArtifact))
"""The names of :class:`PushArtifact`'s fields, in order (``scope`` last)."""


def body_ttl(body: CreateArtifact) -> TTL:
    """The TTL a create body asks for (None: the hub's default).

    Raises:
        InvalidRequestError: Both ``ttl_seconds`` and ``never_expires``.
    """
    if body.never_expires and body.ttl_seconds is not None:
        raise InvalidRequestError("give ttl_seconds or never_expires, not both")
    return "never" if body.never_expires else body.ttl_seconds


@dataclass(frozen=True)
class AddVersion:
    """Store new content as the next version of an artifact.

    Attributes:
        content_type: The new version's MIME type (None: the previous version's).
        metadata: The new version's metadata (None: the previous version's).
        expected_sha256: Fail with ``checksum_mismatch`` unless the bytes hash to this.
        max_size: Fail with ``file_too_large`` past this many bytes.
        lineage: The workflow run and step that made this version and its inputs; the
            artifact's ``run_id``, ``graph_id`` and ``node_id`` then name that run.
    """

    content_type: str | None = None
    metadata: dict[str, Any] | None = None
    expected_sha256: str | None = None
    max_size: int | None = None
    lineage: Lineage | None = None


@dataclass(frozen=True)
class ShareArtifact:
    """Agents and groups to grant read access to (``share``) or take it from (``unshare``)."""

    agents: Sequence[str] = ()
    groups: Sequence[str] = ()
