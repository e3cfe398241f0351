"""``Client``: the synchronous SDK over httpx.Client.

Its methods are generated: ``_sync_send``, ``_sync_writes`` and ``_sync_reads`` are written by
``scripts/unasync.py`` from the async modules :class:`AsyncClient` is made of, so each flow
(retries, presigned push, pagination, pull to a file) is written once.
"""

from __future__ import annotations

from artifact_hub.client._sync_reads import Reads
from artifact_hub.client._sync_writes import Writes

__all__ = ["Client"]


class Client(Writes, Reads):
    """The synchronous client of an artifact-hub (Artifacta's ``Client``).

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
        >>> from artifact_hub import Client
        >>> client = Client(api_key="ak_live_abc123", base_url="http://127.0.0.1:8080")
        >>> artifact = client.push("report.pdf", session_id="run_q4")  # doctest: +SKIP
        >>> client.pull(artifact.id, output="./downloads/")  # doctest: +SKIP
    """
