"""artifact-hub: versioned artifacts for AI agents and workflow steps, with every change on Kafka.

The names most programs need are exported here; the subpackages hold the rest.
"""

from artifact_hub.client import AcentaClient, AsyncClient, Client
from artifact_hub.errors import (
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
from artifact_hub.facade import ArtifactFacade, RunContext
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import Artifact, ArtifactVersion, Caller
from artifact_hub.settings import HubSettings

__version__ = "0.1.0"

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
