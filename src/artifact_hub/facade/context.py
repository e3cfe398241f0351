"""The run context a workflow node works in, and the scope labels derived from it.

A :class:`RunContext` names where a node runs (org, user, client, app, session, run, graph,
node) and how it reaches the hub: in-process (an embedded hub, such as ``artifact_hub.Hub``:
anything with the :class:`~artifact_hub.facade.backends.InProcessHub` attributes, and the
:class:`~artifact_hub.schemas.identity.Caller` to act as) or remotely (an SDK
:class:`~artifact_hub.client.AsyncClient`). ``context.artifacts()`` is the
:class:`~artifact_hub.facade.facade.ArtifactFacade` bound to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.facade.backends import ClientBackend, InProcessHub, ServiceBackend
from artifact_hub.facade.facade import ArtifactFacade
from artifact_hub.facade.scope import SCOPE_KEYS, ScopeLevel, default_cache_dir

if TYPE_CHECKING:
    from artifact_hub.client import AsyncClient
    from artifact_hub.schemas.identity import Caller

__all__ = ["SCOPE_KEYS", "RunContext", "ScopeLevel", "default_cache_dir"]

# The labels each level constrains (ids the context does not have are skipped), and the
# id a level cannot do without: a run-level query without a run id would silently widen
# to the whole tenant.
_LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "org": ("org_id",),
    "user": ("org_id", "user_id"),
    "scope": ("org_id", "user_id", "client_id", "app_id"),
    "session": ("org_id", "user_id", "client_id", "app_id", "session_id"),
    "run": ("org_id", "user_id", "client_id", "app_id", "session_id", "run_id"),
}
_LEVEL_REQUIRES = {"user": "user_id", "session": "session_id", "run": "run_id"}


@dataclass
class RunContext:
    """Where a workflow node runs, and the hub it saves its artifacts to.

    Give either ``hub`` and ``caller`` (in-process, over the service layer) or ``client``
    (remote, over the REST API); the facade behaves the same over both.

    Attributes:
        org_id: The organisation.
        user_id: The user the run is for.
        client_id: The client (front end, integration) that started it.
        app_id: The application.
        session_id: The session; artifacts are filed under it (a sealed session takes no
            more writes).
        run_id: The run.
        graph_id: The graph the node belongs to.
        node_id: The node.
        tool_name: The tool that produces the artifacts (recorded, not a scope).
        tool_version: Its version.
        hub: The embedded hub (in-process binding).
        caller: Who the in-process facade acts as (tenant, agent, groups).
        client: The SDK client (remote binding).
        cache_dir: Where ``as_local_file``/``as_local_dir`` keep downloads and where staged
            files go (a ``str`` or path-like; default: :func:`default_cache_dir`).
        s3_options: boto3 client options for ``s3://`` URIs (``endpoint_url``,
            ``region_name``, ``aws_access_key_id``, ...). None: the hub's S3 settings when an
            embedded hub stores blobs in S3, else boto3's default chain.

    Example:
        >>> ctx = RunContext(org_id="acme", run_id="r1", hub=hub, caller=caller)  # doctest: +SKIP
        >>> artifact = await ctx.artifacts().save_text("Hello, world!")  # doctest: +SKIP
    """

    org_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    hub: InProcessHub | None = None
    caller: Caller | None = None
    client: AsyncClient | None = None
    cache_dir: str | os.PathLike[str] | None = None
    s3_options: dict[str, Any] | None = None
    _facade: ArtifactFacade | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cache_dir is not None:
            # Given as str or any PathLike; the facade works with a Path.
            self.cache_dir = Path(self.cache_dir).expanduser()
        in_process = self.hub is not None or self.caller is not None
        if in_process == (self.client is not None):
            raise InvalidRequestError("give a RunContext either hub and caller, or client")
        if in_process and (self.hub is None or self.caller is None):
            raise InvalidRequestError("an in-process RunContext needs both hub and caller")

    def artifacts(self) -> ArtifactFacade:
        """The facade bound to this context (one per context, so its cache is shared)."""
        if self._facade is None:
            if self.client is not None:
                backend: ClientBackend | ServiceBackend = ClientBackend(self.client)
            else:
                assert self.hub is not None and self.caller is not None  # __post_init__
                backend = ServiceBackend(self.hub, self.caller)
            self._facade = ArtifactFacade(self, backend)
        return self._facade

    def scope_labels(self) -> dict[str, str]:
        """The labels everything saved in this context carries (its non-empty ids)."""
        return {key: value for key in SCOPE_KEYS if (value := getattr(self, key))}

    def level_labels(
        self,
        level: ScopeLevel | None,
        *,
        include_graph: bool = False,
        include_node: bool = False,
    ) -> dict[str, str]:
        """The label filters of a scope level, optionally narrowed to this graph/node.

        Raises:
            InvalidRequestError: Unknown level, or the context lacks the id the level needs
                (a ``run`` query without ``run_id``).
        """
        name = level or "run"
        if name not in get_args(ScopeLevel):
            raise InvalidRequestError(
                f"unknown scope level {name!r}; use one of {', '.join(get_args(ScopeLevel))}"
            )
        required = _LEVEL_REQUIRES.get(name)
        if required is not None and not getattr(self, required):
            raise InvalidRequestError(
                f"scope level {name!r} needs the context's {required}", level=name
            )
        keys = list(_LEVEL_KEYS[name])
        if include_graph or include_node:
            keys.append("graph_id")
        if include_node:
            keys.append("node_id")
        # Ids the context lacks do not narrow: a context outside any graph lists its run.
        return {key: value for key in keys if (value := getattr(self, key))}
