"""The composition root: ``bootstrap(settings)`` wires a :class:`Hub` from its parts.

``RunContext`` and its ``context.artifacts()`` facade (:mod:`artifact_hub.facade`) are
re-exported here: reference.md places the facade in the plugin, bound to a run context.
"""

from artifact_hub.facade import ArtifactFacade, RunContext
from artifact_hub.plugin.bootstrap import bootstrap, build_blob_store
from artifact_hub.plugin.hub import Hub

__all__ = ["ArtifactFacade", "Hub", "RunContext", "bootstrap", "build_blob_store"]
