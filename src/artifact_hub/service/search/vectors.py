"""The per-process vector matrices (:class:`VectorCache`) and the walk of their best candidates."""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from typing import Any

import numpy as np

from artifact_hub.ports.search import Embedder, SearchScope, VectorReads, VectorRows
from artifact_hub.ports.transactions import Transaction

_WALK_CHUNKS = (256, 1024, 4096, 8192)
"""Candidates checked per round of the walk; past them the filtered scan is cheaper."""


def as_matrix(rows: VectorRows, dim: int) -> np.ndarray[Any, Any]:
    """The vectors as a ``len(ids) x dim`` float32 matrix (a view of the bytes, no copy)."""
    return np.frombuffer(rows.data, dtype="<f4").reshape(len(rows.ids), dim)


async def _walk(
    conn: Transaction,
    reads: VectorReads,
    scope: SearchScope,
    matrix: _Matrix,
    query: np.ndarray[Any, Any],
    limit: int,
) -> builtins.list[tuple[str, float]] | None:
    """The first ``limit`` candidates by score that are in scope (None: too few)."""
    norm = float(np.linalg.norm(query))
    if norm == 0.0:
        return []
    assert matrix.matrix is not None  # VectorCache.get returns only loaded matrices
    scores = matrix.matrix @ (query / norm)
    order = np.argsort(-scores, kind="stable")  # ~10 ms for 100,000 vectors
    total = len(order)
    examined = 0
    found: builtins.list[tuple[str, float]] = []
    for size in _WALK_CHUNKS:
        chunk = order[examined : examined + size]
        ids = [matrix.ids[index] for index in chunk]
        visible = await reads.visible(conn, scope, ids)
        for index, artifact_id in zip(chunk, ids, strict=True):
            if artifact_id in visible:
                found.append((artifact_id, float(scores[index])))
                if len(found) == limit:
                    return found
        examined += len(chunk)
        if examined >= total:
            return found  # every candidate checked: fewer than ``limit`` pass
    return None


class _Matrix:
    """One tenant's vectors of one model, and the search state version they were read at."""

    def __init__(
        self, token: int, ids: builtins.list[str], matrix: np.ndarray[Any, Any] | None
    ) -> None:
        self.token = token
        self.ids = ids
        self.matrix = matrix  # None: too large for the cache (remembered until it changes)
        self.nbytes = 0 if matrix is None else int(matrix.nbytes) + 80 * len(ids)


class VectorCache:
    """Per-process matrices of each tenant's vectors, least recently used first out.

    Each search reads the tenant's search state version (one primary-key read), which the
    indexer bumps in every transaction that changes the tenant's documents or vectors; a
    matrix read at another version is read again. So a search never uses stale vectors,
    whichever process changed them.

    Args:
        max_bytes: Memory for all matrices; a tenant larger than that is never cached.
        reads: Where the versions and vectors are read.
    """

    def __init__(self, max_bytes: int, reads: VectorReads) -> None:
        self.max_bytes = max_bytes
        self.reads = reads
        self._entries: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, conn: Transaction, tenant_id: str, embedder: Embedder) -> _Matrix | None:
        """The tenant's matrix, current, or None when it does not fit."""
        if self.max_bytes <= 0:
            return None
        token = await self.reads.state_version(conn, tenant_id)
        key = (tenant_id, embedder.name)
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                self._entries.move_to_end(key)
                return entry if entry.matrix is not None else None
            count = await self.reads.count_vectors(conn, tenant_id, embedder.name, embedder.dim)
            if count * embedder.dim * 4 > self.max_bytes:
                self._entries[key] = _Matrix(token, [], None)
                return None
            # By id: the walk's stable sort then orders equal scores by id, as top_cosine does.
            rows = await self.reads.tenant_vectors(conn, tenant_id, embedder.name, embedder.dim)
            self._entries[key] = _Matrix(token, rows.ids, as_matrix(rows, embedder.dim))
            self._entries.move_to_end(key)
            while sum(e.nbytes for e in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)
            entry = self._entries.get(key)
            return entry if entry is not None and entry.matrix is not None else None
