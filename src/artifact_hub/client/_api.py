"""``AsyncApi``: every call of the asynchronous client, without the Acenta namespace.

Apart from :class:`~artifact_hub.client._async.AsyncClient` so that the namespace
(:mod:`artifact_hub.client._artifact_ns`) can name what it wraps without importing the class
that builds it (no import cycle).
"""

from __future__ import annotations

from artifact_hub.client._async_reads import AsyncReads
from artifact_hub.client._async_writes import AsyncWrites

__all__ = ["AsyncApi"]


class AsyncApi(AsyncWrites, AsyncReads):
    """The writes and reads of the asynchronous client over one connection pool."""
