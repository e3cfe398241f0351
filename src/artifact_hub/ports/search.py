"""Search as the service layer sees it: the filters as values, and what each mode reads.

The search service (:mod:`artifact_hub.service.search`) picks the mode, ranks and shapes the
results; everything it reads goes through a :class:`SearchBackend`, which turns a
:class:`SearchScope` (who asks, which filters) into queries of its own. The SQL one is
:class:`~artifact_hub.adapters.index.stores.search_backend.SqlSearchBackend` (FTS5 on SQLite,
``tsvector`` and pgvector on PostgreSQL).

One protocol per need (:class:`LexicalIndex`, :class:`VectorReads`, :class:`NearestVectors`,
:class:`StructuredQueries`, :class:`DocumentFetch`); :class:`SearchBackend` is all of them.
Vectors cross the port as float32 little-endian bytes (:class:`VectorRows`), so that neither
side needs the other's array library.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.identity import Caller

__all__ = [
    "SCOPE_KEYS",
    "DocumentFetch",
    "Embedder",
    "LexicalIndex",
    "LexicalMatch",
    "LexicalQuery",
    "NearestPolicy",
    "NearestVectors",
    "SearchBackend",
    "SearchIndex",
    "SearchScope",
    "StructuredQueries",
    "VectorReads",
    "VectorRows",
]

SCOPE_KEYS: Mapping[str, str] = {
    key: key
    for key in (
        "session_id",
        "run_id",
        "graph_id",
        "node_id",
        "org_id",
        "user_id",
        "client_id",
        "app_id",
        "agent_id",
    )
}
"""Label keys that also match the artifact's scope field of the same name."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of ``dim`` floats; similar meanings give close vectors.

    Attributes:
        name: Identifies the model; stored with each vector, so vectors of two models are
            never compared.
        dim: The vectors' length.
    """

    name: str
    dim: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


@dataclass(frozen=True)
class SearchScope:
    """Which artifacts a search may return: the caller's visibility and the request's filters.

    Attributes:
        caller: Who searches (tenant, agent, admin): only what it may read is returned.
        filter: The plain filters (kind, tags, labels that are no scope key, time range).
        scope_labels: Labels whose key is in :data:`SCOPE_KEYS`: each matches the artifact's
            field of that name (string values only) or a label of that name and value.
        now: The moment expiry is judged at (one per search, shared by all its queries).
    """

    caller: Caller
    filter: ArtifactFilter
    now: datetime
    scope_labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LexicalQuery:
    """A full-text query.

    Attributes:
        text: The query as typed (PostgreSQL parses it itself).
        words: Its lower-cased words, in order, at least one (SQLite's FTS5 gets these).
    """

    text: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class LexicalMatch:
    """One document that matches a :class:`LexicalQuery`, before scoring.

    Attributes:
        artifact_id: The artifact.
        phrase: The document holds the query as an exact phrase.
        every: It holds every word of the query.
        relevance: The engine's relevance, higher is better (BM25 or ``ts_rank_cd``).
    """

    artifact_id: str
    phrase: bool
    every: bool
    relevance: float


@dataclass(frozen=True)
class VectorRows:
    """Vectors of one dimension: ``ids[i]`` has the i-th ``dim`` float32 values of ``data``.

    Attributes:
        ids: The artifacts, one per vector.
        data: The vectors, float32 little-endian, one after the other.
    """

    ids: builtins.list[str]
    data: bytes


NearestPolicy = Literal["always", "fallback"]
"""When semantic search asks :meth:`NearestVectors.nearest`: for every search, or only when
the in-memory walk cannot answer."""


class LexicalIndex(Protocol):
    """Full-text matches over the search documents."""

    async def lexical(
        self, conn: Transaction, scope: SearchScope, query: LexicalQuery, limit: int
    ) -> builtins.list[LexicalMatch]:
        """The ``limit`` best matches in scope.

        Phrase hits first, then every-word hits, then by relevance.
        """
        ...


class VectorReads(Protocol):
    """The stored embeddings, for scoring in memory."""

    async def state_version(self, conn: Transaction, tenant_id: str) -> int:
        """The tenant's search state version (changes whenever its vectors change)."""
        ...

    async def count_vectors(self, conn: Transaction, tenant_id: str, model: str, dim: int) -> int:
        """How many vectors of this model the tenant has."""
        ...

    async def tenant_vectors(
        self, conn: Transaction, tenant_id: str, model: str, dim: int
    ) -> VectorRows:
        """Every vector of this model in the tenant, ordered by artifact id."""
        ...

    async def scoped_vectors(
        self, conn: Transaction, scope: SearchScope, model: str, dim: int
    ) -> VectorRows:
        """The vectors of this model of the artifacts in scope (in no particular order)."""
        ...

    async def visible(
        self, conn: Transaction, scope: SearchScope, artifact_ids: Sequence[str]
    ) -> set[str]:
        """Those of ``artifact_ids`` that are in scope."""
        ...


class NearestVectors(Protocol):
    """Nearest vectors computed by the store itself (pgvector), when it can."""

    def nearest_policy(self, model: str) -> NearestPolicy | None:
        """Whether and when to ask :meth:`nearest` for this model (None: never)."""
        ...

    async def nearest(
        self, conn: Transaction, scope: SearchScope, query: Sequence[float], limit: int
    ) -> builtins.list[tuple[str, float]]:
        """The ``limit`` artifacts in scope nearest the (non-zero) query vector.

        As ``(artifact_id, cosine similarity)``, best first, equal scores by id.
        ``conn`` must be a write transaction (:meth:`Transactions.begin`): the store may tune
        its planner for that transaction only.
        """
        ...


class StructuredQueries(Protocol):
    """The filters alone, over the index tables (never the search documents)."""

    async def newest(
        self, conn: Transaction, scope: SearchScope, limit: int
    ) -> builtins.list[Artifact]:
        """The ``limit`` artifacts in scope, newest first (then by id, descending)."""
        ...

    async def by_metric(
        self,
        conn: Transaction,
        scope: SearchScope,
        metric: str,
        metric_mode: Literal["max", "min"],
        limit: int,
    ) -> builtins.list[tuple[Artifact, float]]:
        """The ``limit`` artifacts in scope with a numeric value of ``metric``.

        ``metric`` is a name the caller checked. Highest (``max``) or lowest (``min``) first,
        ties oldest first, then by id.
        """
        ...


class DocumentFetch(Protocol):
    """The artifacts behind search hits."""

    async def fetch(self, conn: Transaction, artifact_ids: Sequence[str]) -> dict[str, Artifact]:
        """The artifacts by id (those that no longer exist are absent)."""
        ...


class SearchBackend(
    LexicalIndex, VectorReads, NearestVectors, StructuredQueries, DocumentFetch, Protocol
):
    """Everything the search service reads."""


class SearchIndex(Protocol):
    """The search documents' upkeep, as search needs it."""

    async def flush(self) -> None:
        """Wait until every scheduled document sync is done (read your writes)."""
        ...

    async def reindex(self, *, tenant_id: str | None = None) -> int:
        """Sync every stale, missing or orphaned document; return how many."""
        ...
