"""Rebuilding the index from the events (``artifact-hub index rebuild``).

The topics or the hub's event log, replayed through the consumers' projection; see
:mod:`artifact_hub.consumers.rebuild.runs`.
"""

from artifact_hub.consumers.rebuild.report import Progress, RebuildReport, RejectedEvent
from artifact_hub.consumers.rebuild.runs import (
    PROJECTION_TABLES,
    prepare_target,
    rebuild_from_log,
    rebuild_from_topics,
    rebuild_index,
)

__all__ = [
    "PROJECTION_TABLES",
    "Progress",
    "RebuildReport",
    "RejectedEvent",
    "prepare_target",
    "rebuild_from_log",
    "rebuild_from_topics",
    "rebuild_index",
]
