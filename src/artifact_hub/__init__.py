"""artifact-hub: versioned artifacts for AI agents and workflow steps, with every change on Kafka.

The names most programs need are exported here; the subpackages hold the rest.

The server side (``Hub``, ``bootstrap``, ``HubSettings``) and the workflow facade
(``ArtifactFacade``, ``RunContext``) are imported on first use, so a program that only uses
the SDK (``from artifact_hub import Client``) loads none of SQLAlchemy, FastStream, Alembic,
aiokafka or boto3 (tests/unit/test_light_sdk.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from artifact_hub.client import AcentaClient, AsyncClient, Client
from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactHubError,
    ArtifactNotFoundError,
    AuthenticationError,
    ChecksumMismatchError,
    ConflictError,
    FileTooLargeError,
    InvalidRequestError,
    LinkNotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
    SessionNotFoundError,
    SessionSealedError,
    TTLExceedsPlanLimitError,
    UploadNotFoundError,
    VersionNotFoundError,
)
from artifact_hub.core.version import __version__
from artifact_hub.schemas import Artifact, ArtifactVersion, Caller

if TYPE_CHECKING:
    from artifact_hub.core.settings import HubSettings
    from artifact_hub.facade import ArtifactFacade, RunContext
    from artifact_hub.plugin import Hub
    from artifact_hub.plugin.bootstrap import bootstrap

_LAZY = {
    "ArtifactFacade": "artifact_hub.facade",
    "RunContext": "artifact_hub.facade",
    "Hub": "artifact_hub.plugin",
    "bootstrap": "artifact_hub.plugin",
    "HubSettings": "artifact_hub.core.settings",
}
"""Exports that load the server or the facade, imported when first asked for."""

__all__ = [
    "AcentaClient",
    "Artifact",
    "ArtifactDeletedError",
    "ArtifactExpiredError",
    "ArtifactFacade",
    "ArtifactHubError",
    "ArtifactNotFoundError",
    "ArtifactVersion",
    "AsyncClient",
    "AuthenticationError",
    "Caller",
    "ChecksumMismatchError",
    "Client",
    "ConflictError",
    "FileTooLargeError",
    "Hub",
    "HubSettings",
    "InvalidRequestError",
    "LinkNotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitedError",
    "RunContext",
    "ServerError",
    "SessionNotFoundError",
    "SessionSealedError",
    "TTLExceedsPlanLimitError",
    "UploadNotFoundError",
    "VersionNotFoundError",
    "__version__",
    "bootstrap",
]


def __getattr__(name: str) -> Any:
    """Import a server-side export on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'artifact_hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
