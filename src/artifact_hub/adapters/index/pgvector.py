"""pgvector on PostgreSQL: the search vectors as a ``vector`` column with an HNSW index.

The float32 bytes in ``search_vectors.vector`` stay the source of truth on every database
(SQLite has no pgvector, and a server may gain or lose the extension). When the PostgreSQL
server has the extension, :class:`PgVector` adds beside them:

* the extension itself (``CREATE EXTENSION IF NOT EXISTS vector``; it needs the right to
  create extensions, so a hub without that right falls back to numpy, with a warning);
* a column ``search_vectors.embedding vector`` (no fixed dimension: two models may differ);
* one HNSW index per embedder model, on ``embedding::vector(<dim>)`` with cosine distance,
  partial on that model and dimension (``ix_search_vectors_hnsw_<hash>``).

At start :meth:`PgVector.prepare` adds the column; from then on the indexer writes it in the
same transaction as the bytes. :meth:`PgVector.finish` (in the background) fills it for the
vectors written before, then builds the index (one bulk build, ``CONCURRENTLY``, so writes
go on); only then does semantic search query it.
This is set up at run time, not in a migration, because whether the extension exists, and
which model and dimension the index is for, are facts of the running deployment.

Why a hand-written type: the ``pgvector`` package's SQLAlchemy type fixes one dimension per
column and registers asyncpg codecs per connection; the text form (``'[0.1,0.2]'``) with a
cast needs neither and is exact for float32.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sqlalchemy import Float, bindparam, cast, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import MIGRATION_LOCK, Database
from artifact_hub.core.errors import InvalidRequestError

__all__ = ["PgVector", "PgVectorMode", "VectorType", "vector_text"]

log = logging.getLogger(__name__)

PgVectorMode = Literal["auto", "on", "off"]

_BACKFILL_BATCH = 1000
_BUILD_MEMORY = "256MB"  # an HNSW build that fits in memory is several times faster
# One lock id for the index build, so two hubs starting together do not race on it.
_SETUP_LOCK = 0x6168_7067_7663  # "ahpgvc"


class VectorType(UserDefinedType[str]):
    """``vector(<dim>)``: values are bound as pgvector's text form and cast."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **_kw: Any) -> str:
        """The SQL type."""
        return f"vector({self.dim})"


def vector_text(vector: np.ndarray[Any, Any] | Sequence[float]) -> str:
    """The text form pgvector reads, exact for float32 (``'[0.25,-1.0]'``)."""
    values = np.asarray(vector, dtype=np.float32).tolist()  # float32 values as exact floats
    return "[" + ",".join(repr(value) for value in values) + "]"


def _index_name(model: str, dim: int) -> str:
    digest = hashlib.sha256(f"{model}\n{dim}".encode()).hexdigest()[:16]
    return f"ix_search_vectors_hnsw_{digest}"


def _quote(value: str) -> str:
    """A SQL string literal (DDL takes no bind parameters)."""
    return "'" + value.replace("'", "''") + "'"


class PgVector:
    """The pgvector column and index of one database, for one embedder model.

    Args:
        db: The index database.
        mode: ``auto`` uses pgvector when the server has the extension (creating it if
            allowed), ``on`` refuses to start without it, ``off`` never searches with it.
        model: The embedder's name (vectors of other models are never compared).
        dim: The embedder's dimension.
        ef_search: ``hnsw.ef_search`` for searches that see the whole model's vectors
            (scaled up for narrower ones, and at least twice the rows asked for).
        exact_limit: Searches whose filters leave at most this many vectors compute every
            distance (exact) instead of reading the HNSW index.
        hnsw_min_share: ... and so do searches whose filters leave less than this share of
            the model's vectors, however many: HNSW misses most neighbours then
            (bench/bench_search.py on MiniLM embeddings: recall@10 0.81 unfiltered, 0.035
            with a filter that leaves a fifth).

    Attributes:
        writes: The column exists: the indexer fills it with each vector it writes (even
            with ``mode = off``, so another process of the deployment that searches with it
            never misses a vector).
        ready: The column is filled for every vector: semantic search may query it.
    """

    def __init__(
        self,
        db: Database,
        mode: PgVectorMode,
        *,
        model: str,
        dim: int,
        ef_search: int = 100,
        exact_limit: int = 10_000,
        hnsw_min_share: float = 0.5,
    ) -> None:
        self.db = db
        self.hnsw_min_share = hnsw_min_share
        self.ef_search = ef_search
        self.exact_limit = exact_limit
        self.mode = mode
        self.model = model
        self.dim = dim
        self.writes = False
        self.ready = False
        self.version: str | None = None

    async def prepare(self) -> bool:
        """Set up the extension, the column and the model's index; return whether it writes.

        Quick (one ``ALTER TABLE``); :meth:`finish` then backfills, builds the index and
        makes it :attr:`ready`.

        Raises:
            InvalidRequestError: ``mode = on`` and the database cannot have pgvector.
        """
        if self.db.dialect != "postgresql":
            if self.mode == "on":
                raise InvalidRequestError("search_pgvector = on needs a PostgreSQL index database")
            return False
        version = await self._extension()
        if version is None:
            if self.mode == "on":
                raise InvalidRequestError(
                    "search_pgvector = on, but this PostgreSQL server does not have the "
                    "pgvector extension (or this role may not create it)"
                )
            if self.mode == "auto":
                log.info("pgvector is not available: semantic search scores vectors in numpy")
            return False
        self.version = version
        async with self.db.begin() as conn:
            # Looked up first: ALTER TABLE takes an exclusive lock even when it has nothing
            # to do, and would queue every start behind a long transaction on the table.
            present = await conn.scalar(
                text(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'search_vectors' "
                    "AND column_name = 'embedding'"
                )
            )
            if present is None:
                # A row with both copies (about 3 KiB) is past PostgreSQL's 2 KiB TOAST
                # threshold: keep the searched copy in the row (MAIN) and move the bytes out
                # (EXTERNAL), or every distance would first fetch its vector from TOAST.
                await conn.execute(
                    text(
                        "ALTER TABLE search_vectors "
                        "ADD COLUMN IF NOT EXISTS embedding vector, "
                        "ALTER COLUMN embedding SET STORAGE MAIN, "
                        "ALTER COLUMN vector SET STORAGE EXTERNAL"
                    )
                )
        self.writes = True
        return True

    async def finish(self) -> bool:
        """Backfill, build the index, then let search use it; return :attr:`ready`.

        With ``mode = off`` it backfills only (search never uses it). The index is built
        after the backfill (one bulk build instead of 100,000 inserts) and concurrently, so
        writes go on meanwhile; a session advisory lock keeps two hubs from building it at
        once.
        """
        if not self.writes:
            return False
        filled = await self.backfill()
        if filled:
            log.info("pgvector: filled the embedding column of %d vectors", filled)
        if self.mode == "off":
            return False
        name = _index_name(self.model, self.dim)
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _SETUP_LOCK})
            try:
                valid = await conn.scalar(
                    text(
                        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                        "ON c.oid = i.indexrelid WHERE c.relname = :name"
                    ),
                    {"name": name},
                )
                if valid is False:  # a build that was interrupted: start again
                    await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                if valid is not True:
                    started = time.perf_counter()
                    await conn.execute(text(f"SET maintenance_work_mem = '{_BUILD_MEMORY}'"))
                    await conn.execute(
                        text(
                            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                            "ON search_vectors USING hnsw "
                            f"((embedding::vector({self.dim})) vector_cosine_ops) "
                            f"WHERE model = {_quote(self.model)} AND dim = {self.dim}"
                        )
                    )
                    log.info("pgvector: built %s in %.1f s", name, time.perf_counter() - started)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _SETUP_LOCK})
        self.ready = True
        return True

    @property
    def iterative_scans(self) -> bool:
        """The extension has ``hnsw.iterative_scan`` (0.8 and later)."""
        if self.version is None:
            return False
        parts = [int(part) if part.isdigit() else 0 for part in self.version.split(".")[:2]]
        return tuple(parts) >= (0, 8)

    async def _extension(self) -> str | None:
        """The installed extension's version, installing it when the server offers it."""
        query = text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        async with self.db.connect() as conn:
            version = await conn.scalar(query)
            if version is not None or self.mode == "off":
                return None if version is None else str(version)
            offered = await conn.scalar(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            )
        if offered is None:
            return None
        try:
            async with self.db.begin() as conn:
                # Hubs starting at once on a new database would all create it, and all but one
                # fail on the catalog (a unique violation: numpy for them): one at a time.
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                await conn.execute(lock, {"key": MIGRATION_LOCK})
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as error:  # no right to create extensions: numpy it is
            log.warning("pgvector is installed on the server but could not be enabled: %s", error)
            return None
        async with self.db.connect() as conn:
            version = await conn.scalar(query)
        return None if version is None else str(version)

    async def backfill(self) -> int:
        """Fill the column for vectors written without it; return how many."""
        done = 0
        while True:
            async with self.db.begin() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT artifact_id, model, vector FROM search_vectors "
                            "WHERE embedding IS NULL ORDER BY artifact_id, model LIMIT :n "
                            "FOR UPDATE SKIP LOCKED"
                        ),
                        {"n": _BACKFILL_BATCH},
                    )
                ).all()
                if not rows:
                    return done
                await self.write(
                    conn,
                    [
                        (row.artifact_id, row.model, np.frombuffer(row.vector, dtype="<f4"))
                        for row in rows
                    ],
                )
            done += len(rows)

    async def write(
        self,
        conn: AsyncConnection,
        vectors: Sequence[tuple[str, str, np.ndarray[Any, Any]]],
    ) -> None:
        """Set the column of these ``(artifact_id, model, vector)`` rows (in the caller's txn)."""
        if not self.writes or not vectors:
            return
        await conn.execute(
            text(
                "UPDATE search_vectors SET embedding = CAST(:embedding AS vector) "
                "WHERE artifact_id = :artifact_id AND model = :model"
            ),
            [
                {"artifact_id": artifact_id, "model": model, "embedding": vector_text(vector)}
                for artifact_id, model, vector in vectors
            ],
        )

    def distance(
        self, query: np.ndarray[Any, Any], *, indexed: bool = True
    ) -> ColumnElement[float]:
        """Cosine distance of each row's vector to ``query``.

        ``indexed``: the expression of the HNSW index (``embedding::vector(<dim>)``), which
        an ``ORDER BY`` of it reads in (approximate) order; otherwise the uncast column,
        which no index matches, so PostgreSQL computes every filtered row's distance (exact).
        """
        vector_type = VectorType(self.dim)
        column: ColumnElement[str] = literal_column("search_vectors.embedding", vector_type)
        embedding = cast(column, vector_type) if indexed else column
        # A scalar subquery (an InitPlan, evaluated once): a cast of the bound text in the
        # expression itself is parsed again for every row of a generic plan (measured: 30 ms
        # per 1,000 rows for 384 floats), and the index accepts an InitPlan's value.
        value = select(cast(bindparam("pgvector_query", vector_text(query)), vector_type))
        return embedding.op("<=>", return_type=Float())(value.scalar_subquery())

    def model_condition(self) -> list[ColumnElement[bool]]:
        """The index's predicate (model and dimension), with the values inline.

        A partial index is only used when the planner sees the values, which a generic plan
        of bound parameters hides.
        """
        v = t.search_vectors.c
        return [
            v.model == bindparam("pgvector_model", self.model, literal_execute=True),
            v.dim == bindparam("pgvector_dim", self.dim, literal_execute=True),
        ]
