"""Search over artifacts: structured, lexical, semantic and hybrid, and ``best`` by a metric.

A package of one module per job (see :mod:`.service` for the map); every name importable
from ``artifact_hub.service.search`` before the split still is.
"""

from artifact_hub.service.search.filters import SCOPE_KEYS
from artifact_hub.service.search.ranking import RRF_K, reciprocal_rank_fusion, top_cosine
from artifact_hub.service.search.semantic_pgvector import pgvector_statement
from artifact_hub.service.search.service import SearchService
from artifact_hub.service.search.structured import artifact_from_row_data
from artifact_hub.service.search.vectors import VectorCache

__all__ = [
    "RRF_K",
    "SCOPE_KEYS",
    "SearchService",
    "VectorCache",
    "artifact_from_row_data",
    "pgvector_statement",
    "reciprocal_rank_fusion",
    "top_cosine",
]
