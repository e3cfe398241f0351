"""Search documents: what lexical and semantic search see of each artifact, kept up to date.

One document per live artifact (``search_documents``): its name, kind, tags, labels, metadata
values and, for text-like content (``text/*``, JSON, XML, YAML), the first ``text_limit``
bytes of its latest version. Beside it the full-text index (FTS5 table ``search_fts`` on
SQLite, the generated ``body_tsv`` column on PostgreSQL) and one embedding per document and
embedder model (``search_vectors``).

Why after the commit and not in the projector's transaction: the text comes from the blob
store and the embedding from a model, neither of which belongs in a database transaction, and
events carry neither. So :class:`SearchIndexer` runs after it:

* the service calls :meth:`SearchIndexer.notify` after each commit (``ArtifactService``'s
  ``after_commit`` hook) and the index consumer after each event it applies; the work runs in
  a background task, batched, so writes do not wait for embeddings;
* :meth:`SearchIndexer.sync` is idempotent: a document records the artifact ``revision`` it
  was built from and is rebuilt only when that changed (never replaced by an older one), the
  vector only when the document's text changed;
* :meth:`SearchIndexer.reindex` finds every stale, missing or orphaned document with one join
  and syncs it: run at start, it catches up rebuilt indexes, events ingested by other
  processes and anything a crash left behind.

Every transaction that changes a tenant's documents or vectors also bumps its row in
``search_state``; processes that keep a tenant's vectors in memory compare that version.

Search never trusts a document for visibility: every query joins ``artifacts`` and applies
the caller's tenant, ACL, deletion and expiry conditions there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.pgvector import PgVector, PgVectorMode
from artifact_hub.adapters.index.search_documents import document_body, fts_table, is_text_like
from artifact_hub.adapters.index.search_sync import SearchSync, bump_search_state
from artifact_hub.ports.blobs import BlobStore
from artifact_hub.ports.search import Embedder, SearchIndex
from artifact_hub.schemas.events import ArtifactEvent, EventBase

__all__ = ["SearchIndexer", "bump_search_state", "document_body", "fts_table", "is_text_like"]

log = logging.getLogger(__name__)


class SearchIndexer(SearchSync):
    """Builds and refreshes search documents and their embeddings.

    Args:
        db: The index database.
        blobs: Where text content is read from.
        embedder: Computes the vectors; None keeps documents only (no semantic search).
        text_limit: Bytes of content indexed per artifact.
        batch_size: Artifacts per sync transaction (and per embedding batch).
        pgvector: Whether PostgreSQL keeps the vectors in a pgvector column too (see
            :mod:`artifact_hub.adapters.index.pgvector`); :meth:`prepare` sets it up.
        pgvector_ef_search: Its ``hnsw.ef_search``.
        pgvector_exact_limit: Up to how many filtered vectors it computes exact distances.
        delay: Seconds between a write and the sync of its search document (writes of that
            moment are synced together).
        embed_delay: Seconds without writes before the documents synced meanwhile are
            embedded (0: with the document). An embedding costs milliseconds of CPU per
            document, several times a small push: waiting for a pause keeps it off a busy
            hub's write path and embeds larger batches. A search does not wait for it:
            :meth:`flush` embeds what is pending first.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        embedder: Embedder | None,
        *,
        text_limit: int = 64 * 1024,
        batch_size: int = 64,
        pgvector: PgVectorMode = "auto",
        pgvector_ef_search: int = 100,
        pgvector_exact_limit: int = 10_000,
        delay: float = 0.0,
        embed_delay: float = 0.0,
    ) -> None:
        self.db = db
        self.pgvector = (
            None
            if embedder is None
            else PgVector(
                db,
                pgvector,
                model=embedder.name,
                dim=embedder.dim,
                ef_search=pgvector_ef_search,
                exact_limit=pgvector_exact_limit,
            )
        )
        self.blobs = blobs
        self.embedder = embedder
        self.text_limit = text_limit
        self.batch_size = batch_size
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._reindex_task: asyncio.Task[None] | None = None
        self._pgvector_task: asyncio.Task[None] | None = None
        self.delay = delay
        self.embed_delay = embed_delay
        self._unembedded: set[str] = set()
        self._embed_task: asyncio.Task[None] | None = None
        self._last_write = 0.0
        self._hurry = asyncio.Event()
        self._embedder_failed = False

    # ------------------------------------------------------------ background

    def on_event(self, event: EventBase) -> None:
        """``after_commit`` / ``after_apply`` hook: refresh the artifact the event is about."""
        if isinstance(event, ArtifactEvent):
            self.notify([event.artifact_id])

    async def prepare(self) -> None:
        """Set up pgvector when the database has it (at start, before :meth:`start_reindex`).

        Raises:
            InvalidRequestError: ``pgvector = on`` and the database cannot have it.
        """
        if self.pgvector is not None:
            await self.pgvector.prepare()

    def start_reindex(self) -> None:
        """Run :meth:`reindex` in the background (at start: catch up what was missed)."""
        loop = asyncio.get_running_loop()
        if self._reindex_task is None or self._reindex_task.done():
            self._reindex_task = loop.create_task(self._reindex_logged())
        if self.pgvector is not None and self.pgvector.writes and self._pgvector_task is None:
            # Apart from the reindex, which searches wait for: the index build may take
            # minutes (and waits for older transactions); search uses numpy meanwhile.
            self._pgvector_task = loop.create_task(self._finish_pgvector())

    async def _reindex_logged(self) -> None:
        try:
            count = await self.reindex()
        except Exception:
            log.exception("search reindex failed")
        else:
            if count:
                log.info("search reindex refreshed %d documents", count)

    async def _finish_pgvector(self) -> None:
        assert self.pgvector is not None
        try:
            await self.pgvector.finish()
        except Exception:  # search goes on in numpy; the next start tries again
            log.exception("pgvector set-up failed")

    async def wait_pgvector(self) -> bool:
        """Wait for the pgvector backfill and index build; return whether search uses it."""
        task = self._pgvector_task
        if task is not None and not task.done():
            await _wait(task)
        return self.pgvector is not None and self.pgvector.ready

    def notify(self, artifact_ids: Iterable[str]) -> None:
        """Schedule these artifacts for a sync in the background (call after a commit)."""
        self._pending.update(artifact_ids)
        if not self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing to run on; reindex catches up
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())

    async def flush(self) -> None:
        """Wait until every scheduled sync is done (search calls it: read your writes)."""
        self._hurry.set()
        try:
            await self._flush()
        finally:
            self._hurry.clear()

    async def _flush(self) -> None:
        while True:
            # A task may start another meanwhile (a document sync hands its ids to the
            # embedding task): wait until none runs.
            busy = [
                task
                for task in (self._reindex_task, self._task, self._embed_task)
                if task is not None and not task.done()
            ]
            for task in busy:
                await _wait(task)
            if busy:
                continue
            if self._pending:  # scheduled while no loop ran a task
                batch = list(self._pending)
                self._pending.difference_update(batch)
                await self.sync(batch)
            if self._unembedded:
                batch = list(self._unembedded)
                self._unembedded.difference_update(batch)
                await self.sync(batch)
            return

    async def close(self) -> None:
        """Stop the background work (what it had not done, the next reindex does)."""
        tasks = [
            task
            for task in (self._task, self._reindex_task, self._pgvector_task, self._embed_task)
            if task is not None
        ]
        self._task = self._reindex_task = self._pgvector_task = self._embed_task = None
        for task in tasks:
            if not task.done():
                task.cancel()
                if task.get_loop() is asyncio.get_running_loop():
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _drain(self) -> None:
        if self.delay > 0:
            # Let the write that scheduled this finish first (its relay publish, the next
            # write's transaction), and gather the writes of the next moments into one sync.
            # A search does not wait for the delay: flush() cuts it short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self.delay)
        defer = self.embed_delay > 0 and self.embedder is not None
        while self._pending:
            batch = list(self._pending)[: self.batch_size]
            self._pending.difference_update(batch)
            try:
                await self.sync(batch, embed=not defer)
            except Exception:  # the documents stay stale until the next sync or reindex
                log.exception("search indexing failed for %d artifacts", len(batch))
            if defer:
                self._unembedded.update(batch)
        if defer and self._unembedded:
            loop = asyncio.get_running_loop()
            self._last_write = loop.time()
            if self._embed_task is None or self._embed_task.done():
                self._embed_task = loop.create_task(self._embed_when_idle())

    async def _embed_when_idle(self) -> None:
        """Embed the documents synced without their vectors, once writes pause."""
        loop = asyncio.get_running_loop()
        while not self._hurry.is_set():
            remaining = self._last_write + self.embed_delay - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), remaining)
        while self._unembedded:
            batch = sorted(self._unembedded)[: self.batch_size * 4]
            self._unembedded.difference_update(batch)
            try:
                await self.sync(batch)
            except Exception:
                # One artifact the database refuses must not hold the others back: one at a
                # time, and what still fails is left to the next reindex.
                for artifact_id in batch:
                    try:
                        await self.sync([artifact_id])
                    except Exception:
                        log.exception("search embedding failed for %s", artifact_id)

    # ------------------------------------------------------------ sync

    async def sync(self, artifact_ids: Iterable[str], *, embed: bool = True) -> int:
        """Bring these artifacts' documents (and vectors, with ``embed``) up to date.

        Returns:
            How many documents changed.
        """
        ids = sorted(set(artifact_ids))
        changed = 0
        for start in range(0, len(ids), self.batch_size):
            changed += await self._sync_batch(ids[start : start + self.batch_size], embed)
        return changed

    async def reindex(self, *, tenant_id: str | None = None) -> int:
        """Sync every artifact whose document is missing, stale or orphaned; return how many.

        Also embeds documents that have no vector for the current embedder (a new model).
        """
        a, d, v = t.artifacts.c, t.search_documents.c, t.search_vectors.c
        stale = (
            select(a.artifact_id)
            .select_from(t.artifacts.outerjoin(t.search_documents, d.artifact_id == a.artifact_id))
            .where(
                and_(
                    a.purged_at.is_(None),
                    a.deleted_at.is_(None),
                    a.expired_at.is_(None),
                    or_(d.artifact_id.is_(None), d.revision != a.revision),
                )
            )
        )
        orphans = select(d.artifact_id).select_from(
            t.search_documents.outerjoin(t.artifacts, a.artifact_id == d.artifact_id)
        )
        orphans = orphans.where(
            or_(
                a.artifact_id.is_(None),
                a.purged_at.is_not(None),
                a.deleted_at.is_not(None),
                a.expired_at.is_not(None),
            )
        )
        unembedded = None
        if self.embedder is not None and not self._embedder_failed:
            unembedded = select(d.artifact_id).where(
                ~select(v.artifact_id)
                .where(and_(v.artifact_id == d.artifact_id, v.model == self.embedder.name))
                .exists()
            )
        if tenant_id is not None:
            stale = stale.where(a.tenant_id == tenant_id)
            orphans = orphans.where(d.tenant_id == tenant_id)
            if unembedded is not None:
                unembedded = unembedded.where(d.tenant_id == tenant_id)
        queries = [stale, orphans] if unembedded is None else [stale, orphans, unembedded]
        found: set[str] = set()
        async with self.db.connect() as conn:
            for query in queries:
                found.update((await conn.execute(query)).scalars().all())
        if not found:
            return 0
        await self.sync(found)
        return len(found)


async def _wait(task: asyncio.Task[None]) -> None:
    """Wait for a task, also one running on another event loop (a test client's portal)."""
    if task.get_loop() is asyncio.get_running_loop():
        await asyncio.shield(task)
    else:
        # No asyncio primitive crosses event loops; the task's done() flag can be read safely.
        while not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


if TYPE_CHECKING:
    _port: type[SearchIndex] = SearchIndexer
