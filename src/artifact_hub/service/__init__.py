"""The service layer: the hub's use cases, called by every entry point."""

from artifact_hub.service.artifacts import (
    TTL,
    ArtifactService,
    Content,
    iter_content,
    new_artifact_id,
)

__all__ = ["TTL", "ArtifactService", "Content", "iter_content", "new_artifact_id"]
