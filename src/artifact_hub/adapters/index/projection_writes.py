"""The row writes the projector repeats: lineage, session, label/metadata pairs and tags.

A base class of :class:`~artifact_hub.adapters.index.projector.IndexProjector`; every method is
static and runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.canonical_json import label_value
from artifact_hub.adapters.index.projection_rows import (
    lineage_rows,
)
from artifact_hub.adapters.index.statements import (
    _DELETE_PAIRS,
    _DELETE_TAGS,
    _INSERT_INPUTS,
    _INSERT_LABELS,
    _INSERT_LINEAGE,
    _INSERT_TAGS,
    session_touch,
)
from artifact_hub.schemas.events import (
    ArtifactEvent,
)
from artifact_hub.schemas.lineage import Lineage


class ProjectionWrites:
    """Static helpers that write the side rows of one artifact."""

    @staticmethod
    async def _lineage(
        conn: AsyncConnection, event: ArtifactEvent, version: int, lineage: Lineage
    ) -> None:
        """Record which run and step made ``version``, and the versions it was made from."""
        row, inputs = lineage_rows(event, version, lineage)
        await conn.execute(_INSERT_LINEAGE, row)
        if inputs:
            await conn.execute(_INSERT_INPUTS, inputs)

    @staticmethod
    async def _live_usage(conn: AsyncConnection, artifact_id: str) -> tuple[int, int]:
        """(bytes, count) of the artifact's versions that are not deleted."""
        v = t.artifact_versions.c
        row = (
            await conn.execute(
                select(func.coalesce(func.sum(v.size_bytes), 0), func.count()).where(
                    and_(v.artifact_id == artifact_id, v.deleted_at.is_(None))
                )
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    @staticmethod
    async def _touch_session(
        conn: AsyncConnection, tenant_id: str, session_id: str, at: datetime
    ) -> None:
        # One upsert: insert, or keep the earliest created_at (events of different artifacts
        # may arrive in any order).
        await conn.execute(
            session_touch(conn),
            {"tenant_id": tenant_id, "session_id": session_id, "created_at": at},
        )

    @staticmethod
    async def _replace_pairs(
        conn: AsyncConnection,
        artifact_id: str,
        source: str,
        pairs: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> None:
        if not fresh:
            await conn.execute(_DELETE_PAIRS, {"b_artifact_id": artifact_id, "b_source": source})
        if pairs:
            await conn.execute(
                _INSERT_LABELS,
                [
                    {
                        "artifact_id": artifact_id,
                        "source": source,
                        "key": key[:128],
                        "value": label_value(value),
                    }
                    for key, value in pairs.items()
                ],
            )

    @staticmethod
    async def _replace_tags(
        conn: AsyncConnection, artifact_id: str, tags: list[str], *, fresh: bool = False
    ) -> None:
        if not fresh:
            await conn.execute(_DELETE_TAGS, {"b_artifact_id": artifact_id})
        unique = sorted(set(tags))
        if unique:
            await conn.execute(
                _INSERT_TAGS,
                [{"artifact_id": artifact_id, "tag": tag} for tag in unique],
            )
