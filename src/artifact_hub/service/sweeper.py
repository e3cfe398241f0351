"""The sweeper: expiry, hard delete after retention, blob collection, old idempotency keys.

``Sweeper(settings, db=..., store=..., ...).run_once()`` does one pass; the hub builds one
(``plugin/hub.py``) and runs passes every ``sweep_interval_seconds`` when ``sweep_enabled``.
Every change goes through the service's write path (one transaction: projection + outbox),
so the events reach Kafka like any other. Several processes may sweep the same hub at once:
each change re-checks its condition under the artifact's lock, so an artifact is expired or
purged once.

Rules (docs/rest-api.md, Limits):

- An artifact whose ``expires_at`` passed gets ``artifact.expired`` once. Pinned artifacts do
  not expire while pinned; soft-deleted ones are not expired (they are purged instead).
- ``retention_days`` after its soft delete, or after it expired, an artifact is hard-deleted
  (``artifact.deleted`` with ``purged``); pinning does not keep a deleted artifact.
- The blobs of a purged artifact are removed when no other version points at them. Blobs of a
  write whose commit failed are removed by the write itself.
- Idempotency keys older than 24 h are dropped.
- What a killed process left (SIGKILL runs no clean-up) is collected:

  - spool files whose writer is gone (every pass, and at every start; a live writer holds a
    lock on its file, so this is safe next to running workers);
  - presigned uploads never completed, once their URL and the completion grace have passed
    (their row and their staged bytes);
  - once ``orphan_grace_seconds`` old (at most every ``orphan_scan_interval_seconds`` in the
    background; each ``sweep`` command): staged uploads and unfinished S3 multipart uploads,
    and blobs that no version references. The grace is longer than any upload's life (the
    settings check it), and a write takes the blob's lock to reuse a stored blob, so nothing
    an upload or a commit in progress still needs is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from artifact_hub.core.errors import ArtifactHubError
from artifact_hub.core.settings import HubSettings
from artifact_hub.ports.blobs import BlobStore, StoredBlob, SweptBytes
from artifact_hub.ports.sweeper import SweepStore
from artifact_hub.ports.transactions import Transaction, Transactions

__all__ = ["SweepReport", "Sweeper"]

log = logging.getLogger(__name__)

_BATCH = 500


class _DueQuery(Protocol):
    """One of :class:`SweepStore`'s keyset-paginated lists of artifacts due."""

    def __call__(
        self, conn: Transaction, moment: datetime, /, *, after: str, limit: int
    ) -> Awaitable[list[tuple[str, str]]]: ...


@dataclasses.dataclass
class SweepReport:
    """What one pass did."""

    expired: int = 0
    purged: int = 0
    blobs_removed: int = 0
    idempotency_keys_dropped: int = 0
    uploads_removed: int = 0
    """Presigned uploads never completed in time (row and staged bytes)."""
    spool_files_removed: int = 0
    """Spool files of writers that are gone."""
    staging_removed: int = 0
    """Staged uploads and unfinished S3 multipart uploads past the orphan grace."""
    orphan_blobs_removed: int = 0
    """Blobs no version referenced, past the orphan grace."""
    orphan_bytes_removed: int = 0
    """The bytes of all the orphans above (spool files, staging, blobs)."""


class ArtifactLifecycle(Protocol):
    """What the sweeper asks of the artifact service (``ArtifactService`` does all three)."""

    async def expire(self, tenant_id: str, artifact_id: str, *, now: datetime) -> bool:
        """Record the artifact's expiry, once; whether it did."""
        ...

    async def purge(self, tenant_id: str, artifact_id: str, *, now: datetime) -> list[str]:
        """Hard-delete the artifact; the blobs removed."""
        ...

    async def collect_blob(self, sha256: str) -> bool:
        """Remove the blob if nothing points at it; whether it did."""
        ...


class KeyPurger(Protocol):
    """The idempotency keys' store (``IdempotencyStore``)."""

    async def purge(self, *, now: datetime | None = None) -> int:
        """Drop keys past their lifetime; how many."""
        ...


class UploadSweep(Protocol):
    """The presigned uploads' clean-up (``UploadService.sweep``)."""

    async def sweep(self, now: datetime | None = None) -> int:
        """Forget uploads never completed in time; how many."""
        ...


class Sweeper:
    """Periodic clean-up of one hub.

    Args:
        settings: Retention, orphan grace and the intervals.
        db: The index's transactions (the sweeper's queries run on its connections).
        store: The sweeper's queries (artifacts due, blobs in use).
        blobs: The blob store (spool, staging and orphan clean-up).
        artifacts: Expires, purges and collects blobs through the service's write path.
        idempotency: Drops old idempotency keys.
        uploads: Returns the upload service; it may raise ``ArtifactHubError`` when the hub
            cannot sign URLs (no signing secret), and then stale uploads wait for a hub that
            can (the age-based staging clean-up still runs).
    """

    def __init__(
        self,
        settings: HubSettings,
        *,
        db: Transactions,
        store: SweepStore,
        blobs: BlobStore,
        artifacts: ArtifactLifecycle,
        idempotency: KeyPurger,
        uploads: Callable[[], UploadSweep],
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.blobs = blobs
        self.artifacts = artifacts
        self.idempotency = idempotency
        self._uploads = uploads
        self._task: asyncio.Task[None] | None = None
        self._last_orphan_scan: float | None = None

    async def run_once(
        self, *, now: datetime | None = None, orphans: bool | None = None
    ) -> SweepReport:
        """One pass over everything due at ``now`` (default: the current time).

        Args:
            now: The time the pass acts at.
            orphans: List the store for orphans (staging past the grace, unreferenced
                blobs): True always, False never, None when ``orphan_scan_interval_seconds``
                passed since the last scan of this sweeper.
        """
        moment = now or datetime.now(UTC)
        report = SweepReport()
        for tenant_id, artifact_id in await self._batches(self.store.due_for_expiry, moment):
            if await self.artifacts.expire(tenant_id, artifact_id, now=moment):
                report.expired += 1

        cutoff = moment - timedelta(days=self.settings.retention_days)
        for tenant_id, artifact_id in await self._batches(self.store.due_for_purge, cutoff):
            removed = await self.artifacts.purge(tenant_id, artifact_id, now=moment)
            report.purged += 1
            report.blobs_removed += len(removed)

        report.idempotency_keys_dropped = await self.idempotency.purge(now=moment)
        await self._collect_leftovers(report, moment, orphans)
        if any(dataclasses.astuple(report)):
            log.info("sweep: %s", report)
        return report

    async def _collect_leftovers(
        self, report: SweepReport, moment: datetime, orphans: bool | None
    ) -> None:
        """Spool files, stale uploads and (when due) orphans: what crashes leave."""
        blobs = self.blobs
        spool = await blobs.remove_stale_spool()
        report.spool_files_removed = spool.count
        report.orphan_bytes_removed += spool.bytes
        uploads: UploadSweep | None
        try:
            uploads = self._uploads()
        except ArtifactHubError:
            uploads = None  # no signing secret here: the age-based pass below still runs
        if uploads is not None:
            report.uploads_removed = await uploads.sweep(moment)
        interval = self.settings.orphan_scan_interval_seconds
        if orphans is None:
            last = self._last_orphan_scan
            orphans = last is None or time.monotonic() - last >= interval
        if not orphans:
            return
        self._last_orphan_scan = time.monotonic()
        cutoff = moment - timedelta(seconds=self.settings.orphan_grace_seconds)
        staging = await blobs.remove_stale_staging(cutoff)
        report.staging_removed = staging.count
        report.orphan_bytes_removed += staging.bytes
        collected = await self._collect_orphan_blobs(cutoff)
        report.orphan_blobs_removed = collected.count
        report.orphan_bytes_removed += collected.bytes

    async def _collect_orphan_blobs(self, cutoff: datetime) -> SweptBytes:
        """Remove the blobs stored before ``cutoff`` that no version references."""
        swept = SweptBytes()
        async with self.db.connect() as conn:
            indexed = await self.store.has_artifacts(conn)
        if not indexed:
            # An index with no artifact at all (not even a purged one's tombstone) next to a
            # store with blobs is an index being rebuilt or pointed at another hub's store:
            # every blob would look orphaned. Collect nothing rather than everything.
            log.warning("sweep: the index has no artifacts; orphan blobs are not collected")
            return swept
        try:
            listing = self.blobs.list_blobs()
        except NotImplementedError:
            return swept
        batch: list[StoredBlob] = []
        async for blob in listing:
            if blob.modified < cutoff:
                batch.append(blob)
            if len(batch) >= _BATCH:
                await self._collect_batch(batch, swept)
                batch = []
        if batch:
            await self._collect_batch(batch, swept)
        return swept

    async def _collect_batch(self, batch: list[StoredBlob], swept: SweptBytes) -> None:
        async with self.db.connect() as conn:
            used = await self.store.blobs_in_use(conn, [b.sha256 for b in batch])
        for blob in batch:
            # collect_blob checks again under the blob's lock (a write may reuse it now).
            if blob.sha256 not in used and await self.artifacts.collect_blob(blob.sha256):
                swept.add(blob.size)

    async def _batches(self, due: _DueQuery, moment: datetime) -> list[tuple[str, str]]:
        """Every (tenant, artifact) ``due`` at ``moment``, by artifact id, read in batches."""
        found: list[tuple[str, str]] = []
        last = ""
        while True:
            async with self.db.connect() as conn:
                rows = await due(conn, moment, after=last, limit=_BATCH)
            found.extend(rows)
            if len(rows) < _BATCH:
                return found
            last = rows[-1][1]

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
        interval = self.settings.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:
                # A failed pass (database briefly away) is retried at the next interval.
                log.exception("sweep failed")
