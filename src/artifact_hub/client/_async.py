"""``AsyncClient``: the asynchronous SDK over httpx.AsyncClient, and ``AcentaClient``.

Its I/O is in the hand-written ``_async_send``, ``_async_writes`` and ``_async_reads`` (from
which ``scripts/unasync.py`` generates the sync :class:`Client`); this class adds Acenta's
``client.artifact`` namespace.
"""

from __future__ import annotations

from functools import cached_property

from artifact_hub.client._api import AsyncApi
from artifact_hub.client._artifact_ns import ArtifactNamespace

__all__ = ["AcentaClient", "AsyncClient"]


class AsyncClient(AsyncApi):
    """The asynchronous client of an artifact-hub; ``client.artifact`` is the Acenta API.

    Settings come from the arguments, then ``ARTIFACT_HUB_API_KEY``, ``ARTIFACT_HUB_URL``,
    ``ARTIFACT_HUB_SESSION_ID`` and ``ARTIFACT_HUB_AGENT_ID``, then
    ``~/.config/artifact-hub/config.toml``. Every method raises the typed exceptions of
    :mod:`artifact_hub.core.errors`.

    Args:
        api_key: The API key (``ak_live_...``).
        base_url: The hub's URL (default ``http://127.0.0.1:8080``).
        session_id: Default session of ``push`` and ``list``.
        agent_id: Default agent of ``push``.
        timeout: httpx timeout (seconds or ``httpx.Timeout``).
        max_retries: Retries after the first attempt (429, and 5xx or connection errors of
            idempotent calls; every POST carries an ``Idempotency-Key``).
        retry_backoff: Base of the exponential backoff in seconds.
        transport: An httpx transport (``httpx.MockTransport`` in tests).
        presigned_threshold: Files larger than this use upload-url, PUT, complete.
        idempotency_keys: Send an ``Idempotency-Key`` with every POST.
        config_path: Another config file.

    Example:
        >>> from artifact_hub import AsyncClient
        >>> client = AsyncClient(api_key="ak_live_abc123", base_url="http://127.0.0.1:8080")
        >>> artifact = await client.push("report.pdf", session_id="run_q4")  # doctest: +SKIP
        >>> await client.pull(artifact.id, output="./downloads/")  # doctest: +SKIP
    """

    @cached_property
    def artifact(self) -> ArtifactNamespace:
        """Acenta's namespace: ``await client.artifact.create(...)`` and friends."""
        return ArtifactNamespace(self)


class AcentaClient(AsyncClient):
    """``AsyncClient`` under Acenta's name, for code written against ``acenta``.

    Example:
        >>> from artifact_hub import AcentaClient
        >>> client = AcentaClient(api_key="ak_live_...")
        >>> artifact = await client.artifact.create_snippet(
        ...     name="config.json", content={"model": "gpt-4"})  # doctest: +SKIP
    """
