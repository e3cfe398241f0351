"""What the facade needs to know of its run context: the scope ids, levels and cache folder.

The facade's parts (:mod:`~artifact_hub.facade.core`, :mod:`~artifact_hub.facade.reads`) work
against :class:`FacadeScope`; :class:`~artifact_hub.facade.context.RunContext` is the one
implementation, and it builds the facade (``context.artifacts()``), so the facade must not
import it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["SCOPE_KEYS", "FacadeScope", "ScopeLevel", "default_cache_dir"]

ScopeLevel = Literal["scope", "session", "run", "user", "org"]
"""How wide a query looks: ``org`` ⊃ ``user`` ⊃ ``scope`` ⊃ ``session`` ⊃ ``run``."""

SCOPE_KEYS = (
    "org_id",
    "user_id",
    "client_id",
    "app_id",
    "session_id",
    "run_id",
    "graph_id",
    "node_id",
)
"""The context ids written as labels on everything the facade saves (the seed's scope labels)."""


def default_cache_dir() -> Path:
    """``$ARTIFACT_HUB_CACHE_DIR``, else ``$XDG_CACHE_HOME/artifact-hub/facade``."""
    explicit = os.environ.get("ARTIFACT_HUB_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "artifact-hub" / "facade"


class FacadeScope(Protocol):
    """The run context as the facade reads it (see :class:`~artifact_hub.facade.RunContext`).

    Attributes:
        org_id: The organisation.
        user_id: The user the run is for.
        client_id: The client that started it.
        app_id: The application.
        session_id: The session artifacts are filed under.
        run_id: The run.
        graph_id: The graph the node belongs to.
        node_id: The node.
        tool_name: The tool that produces the artifacts.
        tool_version: Its version.
        cache_dir: Where downloads and staged files go (None: :func:`default_cache_dir`).
        s3_options: boto3 options for ``s3://`` URIs (None: the backend's, else boto3's).
    """

    org_id: str | None
    user_id: str | None
    client_id: str | None
    app_id: str | None
    session_id: str | None
    run_id: str | None
    graph_id: str | None
    node_id: str | None
    tool_name: str | None
    tool_version: str | None
    cache_dir: str | os.PathLike[str] | None
    s3_options: dict[str, Any] | None

    def scope_labels(self) -> dict[str, str]:
        """The labels everything saved in this context carries."""
        ...

    def level_labels(
        self,
        level: ScopeLevel | None,
        *,
        include_graph: bool = False,
        include_node: bool = False,
    ) -> dict[str, str]:
        """The label filters of a scope level, optionally narrowed to the graph/node."""
        ...
