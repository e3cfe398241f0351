"""Search sync: write a batch of documents, their FTS rows and their vectors.

A base class of :class:`~artifact_hub.adapters.index.search.SearchIndexer`: one transaction per
batch refreshes ``search_documents`` (and so ``search_fts`` / ``body_tsv``), ``search_vectors`` and
the pgvector column, and bumps the tenant's ``search_state``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.pgvector import PgVector
from artifact_hub.adapters.index.search_documents import (
    _Document,
    document_body,
    fts_table,
    is_text_like,
)
from artifact_hub.core.errors import ArtifactHubError
from artifact_hub.ports.blobs import BlobNotFoundError, BlobStore
from artifact_hub.ports.search import Embedder

log = logging.getLogger("artifact_hub.adapters.index.search")


class SearchSync:
    """The row writes of :class:`~artifact_hub.adapters.index.search.SearchIndexer`."""

    db: Database
    blobs: BlobStore
    embedder: Embedder | None
    pgvector: PgVector | None
    text_limit: int
    _embedder_failed: bool

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
