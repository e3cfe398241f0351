"""The Python SDK: :class:`Client` (sync), :class:`AsyncClient` and :class:`AcentaClient`.

``Client`` and ``AsyncClient`` are Artifacta-style (``push``, ``pull``, ``list``, ...) and
differ only in I/O; ``AsyncClient.artifact`` is the Acenta-style namespace
(``await client.artifact.create(...)``), and ``AcentaClient`` is ``AsyncClient`` under
Acenta's name. Settings come from the arguments, then ``ARTIFACT_HUB_*`` environment
variables, then ``~/.config/artifact-hub/config.toml``.

Example:
    >>> from artifact_hub import Client
    >>> client = Client(api_key="ak_live_abc123")
    >>> artifact = client.push("report.pdf", session_id="run_q4")  # doctest: +SKIP
"""

from artifact_hub.client._artifact_ns import ArtifactNamespace
from artifact_hub.client._async import AcentaClient, AsyncClient
from artifact_hub.client._base import ALL_SESSIONS, ClientConfig, ListFilters, RetryPolicy
from artifact_hub.client._client import Client

__all__ = [
    "ALL_SESSIONS",
    "AcentaClient",
    "ArtifactNamespace",
    "AsyncClient",
    "Client",
    "ClientConfig",
    "ListFilters",
    "RetryPolicy",
]
