"""Lineage queries: the graph of runs, steps and versions an artifact was made from or into.

A base class of :class:`~artifact_hub.adapters.index.queries.IndexReader`.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.artifact_rows import artifact_from_row
from artifact_hub.ports.index import MAX_LINEAGE_NODES
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import LineageEdge, LineageGraph, LineageNode


class LineageQueries:
    """The lineage part of :class:`~artifact_hub.adapters.index.queries.IndexReader`."""

    if TYPE_CHECKING:

        @staticmethod
        def visible_to(caller: Caller) -> ColumnElement[bool]:
            """Defined by :class:`~artifact_hub.adapters.index.queries.IndexReader`."""
            ...

    async def lineage(
        self,
        conn: AsyncConnection,
        caller: Caller,
        artifact_id: str,
        *,
        max_nodes: int = MAX_LINEAGE_NODES,
    ) -> LineageGraph:
        """The artifact's lineage both ways, within the caller's tenant.

        The walk follows ``made from`` links up (what the artifact came from) and down (what
        was made from it), transitively, through every artifact of the tenant. Artifacts the
        caller may not read stay in the graph as ``hidden`` nodes (id only; the run and step
        of the edges that made them are left out) so that the chain is not cut; artifacts of
        other tenants are never reached: every link row carries its tenant, and a link whose
        other end is not an artifact of the caller's tenant is dropped.

        Each direction is one recursive query (``WITH RECURSIVE``, on SQLite and PostgreSQL);
        the order (nearest first) and the node limit are applied to the links it returns.
        The caller's access to ``artifact_id`` itself is the service's to check.
        """
        # The walk is bounded by links, not nodes; a node has few links in practice.
        link_limit = max_nodes * 8
        up = await self._walk(conn, caller.tenant_id, artifact_id, "upstream", link_limit)
        down = await self._walk(conn, caller.tenant_id, artifact_id, "downstream", link_limit)
        truncated = len(up) > link_limit or len(down) > link_limit
        ends = {link[0] for link in up} | {link[2] for link in down}
        tenant = await self._tenant_ids(conn, caller.tenant_id, ends)
        found: dict[tuple[str, int, str, int], None] = {}  # (source, sv, target, tv), in order
        reached: dict[str, None] = {artifact_id: None}
        directions: dict[str, builtins.list[str]] = {"upstream": [], "downstream": []}
        for direction, links in (("upstream", up[:link_limit]), ("downstream", down[:link_limit])):
            upward = direction == "upstream"
            by_near: dict[str, builtins.list[tuple[str, tuple[str, int, str, int]]]] = {}
            for link in links:
                near, far = (link[2], link[0]) if upward else (link[0], link[2])
                if far in tenant:  # else: not an artifact of this tenant
                    by_near.setdefault(near, []).append((far, link))
            frontier, seen = [artifact_id], {artifact_id}
            while frontier:  # breadth first: nearest first
                following: builtins.list[str] = []
                for near in frontier:
                    for other, link in sorted(by_near.get(near, ())):
                        found[link] = None
                        if other in seen:
                            continue
                        if len(reached) >= max_nodes and other not in reached:
                            truncated = True
                            continue
                        seen.add(other)
                        reached[other] = None
                        directions[direction].append(other)
                        following.append(other)
                frontier = following
        # Links into artifacts the node limit left out are not shown either.
        found = {k: None for k in found if k[0] in reached and k[2] in reached}
        nodes = await self._lineage_nodes(conn, caller, builtins.list(reached))
        visible = {node.artifact_id for node in nodes if not node.hidden}
        made_by = await self._made_by(conn, caller.tenant_id, {(k[2], k[3]) for k in found})
        edges = []
        for source, source_version, target, target_version in found:
            run = made_by.get((target, target_version)) if target in visible else None
            edges.append(
                LineageEdge(
                    source=source,
                    source_version=source_version,
                    target=target,
                    target_version=target_version,
                    run_id=run[0] if run else None,
                    workflow_id=run[1] if run else None,
                    step_id=run[2] if run else None,
                )
            )
        return LineageGraph(
            artifact_id=artifact_id,
            nodes=nodes,
            edges=edges,
            upstream=directions["upstream"],
            downstream=directions["downstream"],
            truncated=truncated,
        )

    @staticmethod
    async def _walk(
        conn: AsyncConnection, tenant_id: str, artifact_id: str, direction: str, limit: int
    ) -> builtins.list[tuple[str, int, str, int]]:
        """Every ``(source, sv, target, tv)`` link reachable one way, up to ``limit + 1``.

        ``UNION`` (not ``UNION ALL``) drops links already found, so cycles (an artifact
        versioned from itself) end the recursion.
        """
        li = t.lineage_inputs.c
        columns = (li.input_artifact_id, li.input_version, li.artifact_id, li.version)
        near = li.artifact_id if direction == "upstream" else li.input_artifact_id
        base = (
            select(*columns)
            .where(and_(li.tenant_id == tenant_id, near == artifact_id))
            .cte("walk", recursive=True)
        )
        step = t.lineage_inputs.alias("step")
        sc = step.c
        if direction == "upstream":
            joined = sc.artifact_id == base.c.input_artifact_id
        else:
            joined = sc.input_artifact_id == base.c.artifact_id
        walk = base.union(
            select(sc.input_artifact_id, sc.input_version, sc.artifact_id, sc.version)
            .select_from(step.join(base, joined))
            .where(sc.tenant_id == tenant_id)
        )
        rows = (await conn.execute(select(walk).limit(limit + 1))).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    @staticmethod
    async def _tenant_ids(conn: AsyncConnection, tenant_id: str, ids: set[str]) -> set[str]:
        """Which of ``ids`` are artifacts of the tenant."""
        if not ids:
            return set()
        a = t.artifacts.c
        rows = await conn.scalars(
            select(a.artifact_id).where(and_(a.tenant_id == tenant_id, a.artifact_id.in_(ids)))
        )
        return set(rows)

    async def _lineage_nodes(
        self, conn: AsyncConnection, caller: Caller, ids: builtins.list[str]
    ) -> builtins.list[LineageNode]:
        """One node per id (in order): details when the caller may read it, else hidden."""
        rows = (
            await conn.execute(
                select(t.artifacts).where(
                    and_(t.artifacts.c.artifact_id.in_(ids), self.visible_to(caller))
                )
            )
        ).all()
        readable = {row.artifact_id: artifact_from_row(row) for row in rows}
        nodes = []
        for artifact_id in ids:
            artifact = readable.get(artifact_id)
            if artifact is None:
                nodes.append(LineageNode(artifact_id=artifact_id, hidden=True))
                continue
            nodes.append(
                LineageNode(
                    artifact_id=artifact_id,
                    name=artifact.name,
                    version=artifact.version,
                    content_type=artifact.content_type,
                    agent_id=artifact.agent_id,
                    session_id=artifact.session_id,
                    run_id=artifact.run_id,
                    created_at=artifact.created_at,
                    deleted=artifact.deleted_at is not None,
                )
            )
        return nodes

    @staticmethod
    async def _made_by(
        conn: AsyncConnection, tenant_id: str, versions: set[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[str, str | None, str | None]]:
        """``(run_id, workflow_id, step_id)`` of each artifact version a step saved."""
        if not versions:
            return {}
        al = t.artifact_lineage.c
        rows = (
            await conn.execute(
                select(al.artifact_id, al.version, al.run_id, al.workflow_id, al.step_id).where(
                    and_(
                        al.tenant_id == tenant_id,
                        al.artifact_id.in_(sorted({v[0] for v in versions})),
                    )
                )
            )
        ).all()
        return {
            (row.artifact_id, row.version): (row.run_id, row.workflow_id, row.step_id)
            for row in rows
            if (row.artifact_id, row.version) in versions
        }
