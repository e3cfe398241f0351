"""The sweeper: expiry, hard delete after retention, blob collection, old idempotency keys.

``Sweeper(hub).run_once()`` does one pass; ``Hub.start`` runs passes every
``sweep_interval_seconds`` when ``sweep_enabled``. Every change goes through the service's
write path (one transaction: projection + outbox), so the events reach Kafka like any other.
Several processes may sweep the same hub at once: each change re-checks its condition under
the artifact's lock, so an artifact is expired or purged once.

Rules (docs/rest-api.md, Limits):

- An artifact whose ``expires_at`` passed gets ``artifact.expired`` once. Pinned artifacts do
  not expire while pinned; soft-deleted ones are not expired (they are purged instead).
- ``retention_days`` after its soft delete, or after it expired, an artifact is hard-deleted
  (``artifact.deleted`` with ``purged``); pinning does not keep a deleted artifact.
- The blobs of a purged artifact are removed when no other version points at them. Blobs of a
  write whose commit failed are removed by the write itself; bytes orphaned by a process that
  died between upload and commit are not found (the blob store cannot be listed yet).
- Idempotency keys older than 24 h are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, false, or_, select
from sqlalchemy.sql.elements import ColumnElement

from artifact_hub.index import tables as t

if TYPE_CHECKING:
    from artifact_hub.plugin.hub import Hub

__all__ = ["SweepReport", "Sweeper"]

log = logging.getLogger(__name__)

_BATCH = 500


@dataclass
class SweepReport:
    """What one pass did."""

    expired: int = 0
    purged: int = 0
    blobs_removed: int = 0
    idempotency_keys_dropped: int = 0


class Sweeper:
    """Periodic clean-up of one hub.

    Args:
        hub: The hub whose service, database and settings it uses.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, now: datetime | None = None) -> SweepReport:
        """One pass over everything due at ``now`` (default: the current time)."""
        moment = now or datetime.now(UTC)
        report = SweepReport()
        service = self.hub.service
        a = t.artifacts.c

        due_expiry = and_(
            a.expires_at <= moment,
            a.expired_at.is_(None),
            a.deleted_at.is_(None),
            a.purged_at.is_(None),
            a.pinned == false(),
        )
        for tenant_id, artifact_id in await self._batches(due_expiry):
            if await service.expire(tenant_id, artifact_id, now=moment):
                report.expired += 1

        cutoff = moment - timedelta(days=self.hub.settings.retention_days)
        due_purge = and_(
            a.purged_at.is_(None),
            or_(
                a.deleted_at <= cutoff,
                and_(a.deleted_at.is_(None), a.pinned == false(), a.expired_at <= cutoff),
            ),
        )
        for tenant_id, artifact_id in await self._batches(due_purge):
            removed = await service.purge(tenant_id, artifact_id, now=moment)
            report.purged += 1
            report.blobs_removed += len(removed)

        report.idempotency_keys_dropped = await self.hub.idempotency.purge(now=moment)
        if report.expired or report.purged or report.idempotency_keys_dropped:
            log.info("sweep: %s", report)
        return report

    async def _batches(self, condition: ColumnElement[bool]) -> list[tuple[str, str]]:
        """Every (tenant, artifact) matching ``condition``, by artifact id, read in batches."""
        a = t.artifacts.c
        found: list[tuple[str, str]] = []
        last = ""
        while True:
            async with self.hub.db.connect() as conn:
                rows = (
                    await conn.execute(
                        select(a.tenant_id, a.artifact_id)
                        .where(and_(condition, a.artifact_id > last))
                        .order_by(a.artifact_id)
                        .limit(_BATCH)
                    )
                ).all()
            found.extend((row.tenant_id, row.artifact_id) for row in rows)
            if len(rows) < _BATCH:
                return found
            last = rows[-1].artifact_id

    def start(self) -> None:
        """Run a pass every ``sweep_interval_seconds`` in the background.

        The first pass comes after one interval, so short-lived processes (CLI commands) do
        not sweep.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="artifact-hub-sweeper")

    async def stop(self) -> None:
        """Stop the background passes (a pass in progress is cancelled between changes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        interval = self.hub.settings.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:
                # A failed pass (database briefly away) is retried at the next interval.
                log.exception("sweep failed")
