"""The artifact service: the hub's use cases, composed from one module per job.

Every entry point (API, CLI, consumers' helpers, facade, workflow steps) calls this layer; none
touches storage directly. Each change follows one path: the blob first (content-addressed,
visible only when complete), then one transaction that applies the event through the
projection the consumers use and appends it to the outbox; the relay publishes it afterwards.

Where each use case lives: reads in :mod:`.reads`, the shared write path in :mod:`.commits`,
push/version/update in :mod:`.writes`, share/unshare in :mod:`.sharing`, pin/TTL/delete/seal
and the sweeper's expire/purge in :mod:`.lifecycle`.
"""

from __future__ import annotations

from artifact_hub.service.artifacts.lifecycle import ArtifactLifecycle
from artifact_hub.service.artifacts.sharing import ArtifactSharing
from artifact_hub.service.artifacts.writes import ArtifactWrites

__all__ = ["ArtifactService"]


class ArtifactService(ArtifactWrites, ArtifactSharing, ArtifactLifecycle):
    """The hub's use cases, over a blob store, the index and the outbox.

    Args:
        db: The index's units of work.
        blobs: The blob store.
        reader: The index's reads.
        store: The write path's locks and index questions (quota, lineage, lifespan).
        events: Records each change: applied to the index and appended to the outbox.
        on_commit: Called after every committed change (the relay's ``notify``).
        after_commit: More callbacks, each given the committed event (search indexing); add to
            the list after construction too. They must not block: schedule work instead.
        default_ttl: TTL of new artifacts when the caller gives none (None: never expire).
        source: The CloudEvents ``source`` of the events this hub writes.
        limits: The plans' limits (file size, storage quota, TTL) checked on every write.
    """
