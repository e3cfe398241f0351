"""The composition root: ``bootstrap(settings)`` wires a :class:`Hub` from its parts."""

from artifact_hub.plugin.hub import Hub, bootstrap, build_blob_store

__all__ = ["Hub", "bootstrap", "build_blob_store"]
