"""The composition root: ``bootstrap(settings)`` wires a :class:`Hub` from its parts.

The workflow facade is not re-exported here: it is an entry point above the root (it is handed
a hub, see :class:`artifact_hub.facade.InProcessHub`); import it from :mod:`artifact_hub.facade`
or as ``artifact_hub.ArtifactFacade`` / ``artifact_hub.RunContext``.
"""

from artifact_hub.plugin.bootstrap import bootstrap, build_blob_store
from artifact_hub.plugin.hub import Hub

__all__ = ["Hub", "bootstrap", "build_blob_store"]
