"""Lineage: which run and step made an artifact version, and from which artifacts.

:class:`Lineage` travels in the ``artifact.created`` and ``artifact.versioned`` events, so the
index can rebuild it from the topics or the event log like everything else.
:class:`LineageGraph` is what ``GET /v1/artifacts/{id}/lineage`` answers.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_LINEAGE_INPUTS",
    "Lineage",
    "LineageEdge",
    "LineageGraph",
    "LineageInput",
    "LineageNode",
]

MAX_LINEAGE_INPUTS = 1000
"""At most this many inputs per artifact version (a step that read more names the first)."""


class LineageInput(BaseModel):
    """One artifact version a step read before it saved its result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    artifact_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)


class Lineage(BaseModel):
    """Where an artifact version came from: the workflow run, the step, and the inputs.

    Attributes:
        run_id: The workflow run that saved the version.
        workflow_id: The workflow's id.
        step_id: The step that saved it.
        inputs: The artifact versions loaded by the steps upstream of that step.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1, max_length=200)
    workflow_id: str | None = Field(default=None, max_length=200)
    step_id: str | None = Field(default=None, max_length=200)
    inputs: list[LineageInput] = Field(default_factory=list, max_length=MAX_LINEAGE_INPUTS)


class LineageNode(BaseModel):
    """An artifact in a lineage graph.

    Artifacts of the caller's tenant that the caller may not read are listed with their id
    and ``hidden`` only: the graph shows that something is there, never what. Artifacts of
    other tenants never appear.
    """

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    hidden: bool = False
    name: str | None = None
    version: int | None = None
    content_type: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None
    deleted: bool = False


class LineageEdge(BaseModel):
    """``target`` (at ``target_version``) was made from ``source`` (at ``source_version``).

    ``run_id``, ``workflow_id`` and ``step_id`` say which run and step made the target; they
    are left out when the target is hidden from the caller.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    source_version: int
    target: str
    target_version: int
    run_id: str | None = None
    workflow_id: str | None = None
    step_id: str | None = None


class LineageGraph(BaseModel):
    """An artifact's lineage both ways: what it came from and what was made from it.

    Attributes:
        artifact_id: The artifact asked about.
        nodes: Every artifact reached, the asked one first.
        edges: Every ``made from`` link between them.
        upstream: Ids of the artifacts it came from, transitively (nearest first).
        downstream: Ids of the artifacts made from it, transitively (nearest first).
        truncated: The walk stopped at its node limit; the graph is incomplete.
    """

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    nodes: list[LineageNode] = Field(default_factory=list)
    edges: list[LineageEdge] = Field(default_factory=list)
    upstream: list[str] = Field(default_factory=list)
    downstream: list[str] = Field(default_factory=list)
    truncated: bool = False
