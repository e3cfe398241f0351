"""``context.artifacts()``: the ArtifactFacade for workflow nodes (seeds/artifact-facade-api.txt).

Build a :class:`RunContext` over an embedded hub (``hub`` + ``caller``; the facade needs only
the :class:`InProcessHub` attributes, and never imports the composition root) or the SDK
(``client``) and call ``context.artifacts()``.
"""

from artifact_hub.facade.backends import (
    ClientBackend,
    FacadeBackend,
    InProcessHub,
    ServiceBackend,
)
from artifact_hub.facade.context import RunContext, ScopeLevel
from artifact_hub.facade.facade import ArtifactFacade, ArtifactWriter, SearchMode
from artifact_hub.facade.manifest import MANIFEST_CONTENT_TYPE, Manifest, ManifestEntry
from artifact_hub.facade.uris import artifact_uri

__all__ = [
    "MANIFEST_CONTENT_TYPE",
    "ArtifactFacade",
    "ArtifactWriter",
    "ClientBackend",
    "FacadeBackend",
    "InProcessHub",
    "Manifest",
    "ManifestEntry",
    "RunContext",
    "ScopeLevel",
    "SearchMode",
    "ServiceBackend",
    "artifact_uri",
]
