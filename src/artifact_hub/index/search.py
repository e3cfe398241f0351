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
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import and_, column, delete, insert, or_, select, table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.errors import ArtifactHubError
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.index.pgvector import PgVector, PgVectorMode
from artifact_hub.schemas.events import ArtifactEvent, EventBase
from artifact_hub.storage.base import BlobNotFoundError, BlobStore

if TYPE_CHECKING:  # the service layer builds embedders; the index only calls them
    from artifact_hub.service.embedders import Embedder

__all__ = ["SearchIndexer", "bump_search_state", "document_body", "fts_table", "is_text_like"]

log = logging.getLogger(__name__)

fts_table = table("search_fts", column("rowid"), column("body"), column("artifact_id"))
"""The SQLite FTS5 table (created by migration 0005, not part of ``tables.metadata``)."""

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
        "application/toml",
        "application/javascript",
        "application/sql",
    }
)
_TEXT_SUFFIXES = (".txt", ".md", ".json", ".csv", ".tsv", ".yaml", ".yml", ".xml", ".log")
_SEPARATORS = re.compile(r"[^\w]+|_", re.UNICODE)


def is_text_like(content_type: str | None, name: str) -> bool:
    """Whether the content is text worth indexing (by MIME type, else by file suffix)."""
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        return (
            mime.startswith("text/")
            or mime in _TEXT_TYPES
            or mime.endswith("+json")
            or mime.endswith("+xml")
        )
    return name.lower().endswith(_TEXT_SUFFIXES)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def document_body(row: Mapping[str, Any], content: str | None) -> str:
    """The searchable text of an artifact: its descriptive fields first, then its content.

    The fields come first because the embedder only reads the first few hundred tokens.
    """
    name = str(row["name"])
    lines = [name]
    spaced = " ".join(part for part in _SEPARATORS.split(name) if part)
    if spaced and spaced != name:
        lines.append(spaced)  # "weekly_report.md" also as "weekly report md"
    if row.get("kind"):
        lines.append(str(row["kind"]))
    tags = row.get("tags") or []
    if tags:
        lines.append(" ".join(str(tag) for tag in tags))
    for key, value in sorted((row.get("labels") or {}).items()):
        lines.append(f"{key} {_scalar_text(value)}")
    for value in (row.get("metadata") or {}).values():
        lines.append(_scalar_text(value))
    if content:
        lines.append(content)
    # NUL is no text to search, and PostgreSQL's text columns refuse it.
    return "\n".join(lines).replace("\x00", " ")


@dataclass(frozen=True)
class _Document:
    artifact_id: str
    tenant_id: str
    revision: int
    version: int
    body: str
    body_sha256: str


class SearchIndexer:
    """Builds and refreshes search documents and their embeddings.

    Args:
        db: The index database.
        blobs: Where text content is read from.
        embedder: Computes the vectors; None keeps documents only (no semantic search).
        text_limit: Bytes of content indexed per artifact.
        batch_size: Artifacts per sync transaction (and per embedding batch).
        pgvector: Whether PostgreSQL keeps the vectors in a pgvector column too (see
            :mod:`artifact_hub.index.pgvector`); :meth:`prepare` sets it up.
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

    async def _sync_batch(self, ids: Sequence[str], embed: bool = True) -> int:
        a, d, v = t.artifacts.c, t.search_documents.c, t.search_vectors.c
        async with self.db.connect() as conn:
            rows = {
                row.artifact_id: dict(row._mapping)
                for row in (await conn.execute(select(t.artifacts).where(a.artifact_id.in_(ids))))
            }
            indexed = dict(
                (
                    await conn.execute(
                        select(d.artifact_id, d.revision).where(d.artifact_id.in_(ids))
                    )
                ).all()
            )
        gone = [
            artifact_id
            for artifact_id in ids
            if artifact_id not in rows
            or any(rows[artifact_id][field] is not None for field in _GONE_FIELDS)
        ]
        todo = [
            rows[artifact_id]
            for artifact_id in ids
            if artifact_id not in gone and indexed.get(artifact_id) != rows[artifact_id]["revision"]
        ]
        documents = [await self._document(row) for row in todo]
        vectors: dict[str, bytes] = {}
        if embed and self.embedder is not None and not self._embedder_failed:
            async with self.db.connect() as conn:
                have = dict(
                    (
                        await conn.execute(
                            select(v.artifact_id, v.body_sha256).where(
                                and_(v.artifact_id.in_(ids), v.model == self.embedder.name)
                            )
                        )
                    ).all()
                )
            alive = {doc.artifact_id: doc for doc in documents}
            # Documents already current whose vector is missing or older than their body (a
            # new embedder; a document synced before its embedding, see embed_delay) are
            # embedded too.
            current = [i for i in ids if i not in gone and i not in alive]
            if current:
                async with self.db.connect() as conn:
                    for row in await conn.execute(
                        select(d.artifact_id, d.body, d.body_sha256, d.tenant_id).where(
                            d.artifact_id.in_(current)
                        )
                    ):
                        if have.get(row.artifact_id) != row.body_sha256:
                            alive[row.artifact_id] = _Document(
                                row.artifact_id, row.tenant_id, 0, 0, row.body, row.body_sha256
                            )
            to_embed = [
                doc for doc in alive.values() if have.get(doc.artifact_id) != doc.body_sha256
            ]
            if to_embed:
                try:
                    embedded = await self.embedder.embed([doc.body for doc in to_embed])
                except ArtifactHubError as error:  # the model is not installed: say so once
                    self._embedder_failed = True
                    log.warning("semantic indexing disabled: %s", error.message)
                    embedded = []
                for doc, vector in zip(to_embed, embedded, strict=False):
                    vectors[doc.artifact_id] = np.asarray(vector, dtype="<f4").tobytes()
            documents_by_id = alive
        else:
            documents_by_id = {doc.artifact_id: doc for doc in documents}
        if not gone and not documents and not vectors:
            return 0
        async with self.db.begin() as conn:
            tenants = {doc.tenant_id for doc in documents}
            if gone:
                tenants |= await self._remove(conn, gone)
            await self._upsert(conn, documents)
            if vectors and self.embedder is not None:
                for artifact_id, blob in vectors.items():
                    doc = documents_by_id[artifact_id]
                    tenants.add(doc.tenant_id)
                    await self._upsert_vector(conn, doc, self.embedder, blob)
                if self.pgvector is not None:
                    await self.pgvector.write(
                        conn,
                        [
                            (artifact_id, self.embedder.name, np.frombuffer(blob, dtype="<f4"))
                            for artifact_id, blob in vectors.items()
                        ],
                    )
            for tenant_id in sorted(tenants):  # sorted: two writers lock rows in one order
                await bump_search_state(conn, tenant_id)
        return len(gone) + len(documents)

    async def _document(self, row: Mapping[str, Any]) -> _Document:
        content = None
        if self.text_limit and is_text_like(row["content_type"], row["name"]):
            content = await self._read_text(row["sha256"])
        body = document_body(row, content)
        return _Document(
            artifact_id=row["artifact_id"],
            tenant_id=row["tenant_id"],
            revision=row["revision"],
            version=row["version"],
            body=body,
            body_sha256=hashlib.sha256(body.encode()).hexdigest(),
        )

    async def _read_text(self, sha256: str) -> str | None:
        """The first ``text_limit`` bytes of the blob as text (not verified: a prefix only)."""
        data = bytearray()
        stream = self.blobs.get(sha256)
        try:
            async for chunk in stream:
                data.extend(chunk)
                if len(data) >= self.text_limit:
                    break
        except BlobNotFoundError:
            return None
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        # A cut may split a multi-byte character: drop the broken tail, keep the rest.
        return bytes(data[: self.text_limit]).decode("utf-8", errors="ignore")

    async def _remove(self, conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
        """Drop the documents and vectors; return the tenants that had any."""
        d, v = t.search_documents.c, t.search_vectors.c
        tenants = set(
            (await conn.execute(select(d.tenant_id).where(d.artifact_id.in_(ids)))).scalars()
        )
        tenants |= set(
            (await conn.execute(select(v.tenant_id).where(v.artifact_id.in_(ids)))).scalars()
        )
        await conn.execute(
            delete(t.search_documents).where(t.search_documents.c.artifact_id.in_(ids))
        )
        await conn.execute(delete(t.search_vectors).where(t.search_vectors.c.artifact_id.in_(ids)))
        if conn.dialect.name == "sqlite":
            await conn.execute(delete(fts_table).where(fts_table.c.artifact_id.in_(ids)))
        return tenants

    async def _upsert(self, conn: AsyncConnection, documents: Sequence[_Document]) -> None:
        """Write these documents (and on SQLite their FTS rows), a few statements in all."""
        if not documents:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "artifact_id": doc.artifact_id,
                "tenant_id": doc.tenant_id,
                "revision": doc.revision,
                "version": doc.version,
                "body": doc.body,
                "body_sha256": doc.body_sha256,
                "indexed_at": now,
            }
            for doc in documents
        ]
        d = t.search_documents
        stmt = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(d)
        stmt = stmt.on_conflict_do_update(
            index_elements=[d.c.artifact_id],
            set_={key: stmt.excluded[key] for key in rows[0] if key != "artifact_id"},
            # Never replace a newer document with an older one (two syncs racing).
            where=d.c.revision < stmt.excluded.revision,
        )
        await conn.execute(stmt, rows)
        if conn.dialect.name != "sqlite":
            return  # PostgreSQL's tsvector column follows the body by itself
        # The FTS rows of the documents that now hold our revision (a racing sync's newer
        # document keeps its own).
        ids = [doc.artifact_id for doc in documents]
        found = await conn.execute(
            select(d.c.artifact_id, d.c.revision).where(d.c.artifact_id.in_(ids))
        )
        held = {row.artifact_id: row.revision for row in found}
        mine = [doc for doc in documents if held.get(doc.artifact_id) == doc.revision]
        if not mine:
            return
        await conn.execute(
            delete(fts_table).where(fts_table.c.artifact_id.in_([doc.artifact_id for doc in mine]))
        )
        await conn.execute(
            insert(fts_table), [{"artifact_id": doc.artifact_id, "body": doc.body} for doc in mine]
        )

    async def _upsert_vector(
        self, conn: AsyncConnection, doc: _Document, embedder: Embedder, blob: bytes
    ) -> None:
        values = {
            "artifact_id": doc.artifact_id,
            "model": embedder.name,
            "tenant_id": doc.tenant_id,
            "dim": embedder.dim,
            "body_sha256": doc.body_sha256,
            "vector": blob,
        }
        v = t.search_vectors
        if conn.dialect.name == "sqlite":
            stmt = sqlite_insert(v).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=[v.c.artifact_id, v.c.model],
                set_={
                    "body_sha256": stmt.excluded.body_sha256,
                    "vector": stmt.excluded.vector,
                    "dim": stmt.excluded.dim,
                },
            )
            await conn.execute(stmt)
        else:
            pg = pg_insert(v).values(values)
            pg = pg.on_conflict_do_update(
                index_elements=[v.c.artifact_id, v.c.model],
                set_={
                    "body_sha256": pg.excluded.body_sha256,
                    "vector": pg.excluded.vector,
                    "dim": pg.excluded.dim,
                },
            )
            await conn.execute(pg)


_GONE_FIELDS = ("deleted_at", "expired_at", "purged_at")


async def bump_search_state(conn: AsyncConnection, tenant_id: str) -> None:
    """Mark the tenant's search data changed (inside the transaction that changes it)."""
    table = t.search_state
    if conn.dialect.name == "sqlite":
        stmt = sqlite_insert(table).values(tenant_id=tenant_id, version=1)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.tenant_id], set_={"version": table.c.version + 1}
            )
        )
    else:
        pg = pg_insert(table).values(tenant_id=tenant_id, version=1)
        await conn.execute(
            pg.on_conflict_do_update(
                index_elements=[table.c.tenant_id], set_={"version": table.c.version + 1}
            )
        )


async def _wait(task: asyncio.Task[None]) -> None:
    """Wait for a task, also one running on another event loop (a test client's portal)."""
    if task.get_loop() is asyncio.get_running_loop():
        await asyncio.shield(task)
    else:
        # No asyncio primitive crosses event loops; the task's done() flag can be read safely.
        while not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
