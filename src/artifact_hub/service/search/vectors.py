"""The per-process vector matrices (:class:`VectorCache`) and the walk of their best candidates."""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, select

from artifact_hub.adapters.index import tables as t
from artifact_hub.service.embedders import Embedder

_WALK_CHUNKS = (256, 1024, 4096, 8192)
"""Candidates checked per round of the walk; past them the filtered scan is cheaper."""


async def _walk(
    conn: Any,
    matrix: _Matrix,
    query: np.ndarray[Any, Any],
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> builtins.list[tuple[str, float]] | None:
    """The first ``limit`` candidates by score that pass ``conditions`` (None: too few)."""
    norm = float(np.linalg.norm(query))
    if norm == 0.0:
        return []
    assert matrix.matrix is not None  # VectorCache.get returns only loaded matrices
    scores = matrix.matrix @ (query / norm)
    order = np.argsort(-scores, kind="stable")  # ~10 ms for 100,000 vectors
    total = len(order)
    examined = 0
    found: builtins.list[tuple[str, float]] = []
    a = t.artifacts.c
    for size in _WALK_CHUNKS:
        chunk = order[examined : examined + size]
        ids = [matrix.ids[index] for index in chunk]
        visible = set(
            (
                await conn.execute(
                    select(a.artifact_id).where(and_(a.artifact_id.in_(ids), *conditions))
                )
            ).scalars()
        )
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

    Each search reads the tenant's ``search_state.version`` (one primary-key read), which the
    indexer bumps in every transaction that changes the tenant's documents or vectors; a
    matrix read at another version is read again. So a search never uses stale vectors,
    whichever process changed them.

    Args:
        max_bytes: Memory for all matrices; a tenant larger than that is never cached.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, conn: Any, tenant_id: str, embedder: Embedder) -> _Matrix | None:
        """The tenant's matrix, current, or None when it does not fit."""
        if self.max_bytes <= 0:
            return None
        version = await conn.scalar(
            select(t.search_state.c.version).where(t.search_state.c.tenant_id == tenant_id)
        )
        token = int(version or 0)
        key = (tenant_id, embedder.name)
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                self._entries.move_to_end(key)
                return entry if entry.matrix is not None else None
            v = t.search_vectors.c
            where = and_(v.tenant_id == tenant_id, v.model == embedder.name, v.dim == embedder.dim)
            count = int(
                await conn.scalar(select(func.count()).select_from(t.search_vectors).where(where))
                or 0
            )
            if count * embedder.dim * 4 > self.max_bytes:
                self._entries[key] = _Matrix(token, [], None)
                return None
            # By id: the walk's stable sort then orders equal scores by id, as top_cosine does.
            rows = (
                await conn.execute(
                    select(v.artifact_id, v.vector).where(where).order_by(v.artifact_id)
                )
            ).all()
            matrix = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(
                len(rows), embedder.dim
            )
            self._entries[key] = _Matrix(token, [row.artifact_id for row in rows], matrix)
            self._entries.move_to_end(key)
            while sum(e.nbytes for e in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)
            entry = self._entries.get(key)
            return entry if entry is not None and entry.matrix is not None else None
