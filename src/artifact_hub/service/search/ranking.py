"""Ranking: the query's words, lexical tiers, cosine top-k and reciprocal rank fusion.

Pure scoring, no SQL: the backends (:mod:`.fts5`, :mod:`.tsvector`, :mod:`.semantic`,
:mod:`.semantic_pgvector`) return candidates that these functions score and order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

RRF_K = 60

_WORD = re.compile(r"\w+", re.UNICODE)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse rankings (best first) into one: each id scores ``sum(1 / (k + rank))``.

    Ties keep the order of first appearance (the first ranking's order first).
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = {item: index for index, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def _tiered(phrase: bool, every: bool, relevance: float) -> float:
    tier = 2.0 if phrase else 1.0 if every else 0.0
    relevance = max(float(relevance), 0.0)
    return tier + relevance / (1.0 + relevance)


def top_cosine(
    matrix: np.ndarray[Any, Any], query: np.ndarray[Any, Any], ids: Sequence[str], limit: int
) -> list[tuple[str, float]]:
    """The ``limit`` rows of ``matrix`` (unit vectors) closest to ``query``, best first.

    Equal scores are ordered by id, so the answer does not depend on the rows' order.
    """
    norm = float(np.linalg.norm(query))
    if norm == 0.0 or not len(ids):
        return []
    scores = matrix @ (query / norm)
    count = min(limit, len(ids))
    if count < len(ids):
        kth = np.partition(-scores, count - 1)[count - 1]
        candidates = np.nonzero(-scores <= kth)[0]  # every tie at the cut included
    else:
        candidates = np.arange(len(ids))
    best = sorted(candidates.tolist(), key=lambda index: (-scores[index], ids[index]))[:count]
    return [(ids[index], float(scores[index])) for index in best]
