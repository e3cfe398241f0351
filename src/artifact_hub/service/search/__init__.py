"""Search over artifacts: structured, lexical, semantic and hybrid, and ``best`` by a metric.

A package of one module per job (see :mod:`.service` for the map). Its queries are a
:class:`~artifact_hub.ports.search.SearchBackend`'s (``pgvector_statement`` moved with them to
``artifact_hub.adapters.index.stores.search_pgvector``).
"""

from artifact_hub.service.search.filters import SCOPE_KEYS
from artifact_hub.service.search.ranking import RRF_K, reciprocal_rank_fusion, top_cosine
from artifact_hub.service.search.service import SearchService
from artifact_hub.service.search.structured import artifact_from_row_data
from artifact_hub.service.search.vectors import VectorCache

__all__ = [
    "RRF_K",
    "SCOPE_KEYS",
    "SearchService",
    "VectorCache",
    "artifact_from_row_data",
    "reciprocal_rank_fusion",
    "top_cosine",
]
