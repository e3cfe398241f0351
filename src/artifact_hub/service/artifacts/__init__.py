"""The use cases: push, version, read, list, pull, delete, share, seal, pin, extend TTL.

A package of one module per job (see :mod:`.service` for the map); every name importable
from ``artifact_hub.service.artifacts`` before the split still is.
"""

from artifact_hub.core.ids import new_artifact_id
from artifact_hub.service.artifacts.content import TTL, Content, StagedUpload, iter_content
from artifact_hub.service.artifacts.service import ArtifactService

__all__ = ["TTL", "ArtifactService", "Content", "StagedUpload", "iter_content", "new_artifact_id"]
