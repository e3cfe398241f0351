"""The metadata index on SQLAlchemy 2 (async): SQLite by default, PostgreSQL by URL.

``Database`` owns the engines and migrations, ``IndexProjector`` is the only writer of index
rows (from events), ``IndexReader`` answers queries, ``Outbox`` keeps the events to publish.
"""

from artifact_hub.adapters.index.database import Database, normalize_url
from artifact_hub.adapters.index.outbox import Outbox, OutboxRow
from artifact_hub.adapters.index.projector import IndexProjector
from artifact_hub.adapters.index.queries import ArtifactFilter, IndexReader, Page

__all__ = [
    "ArtifactFilter",
    "Database",
    "IndexProjector",
    "IndexReader",
    "Outbox",
    "OutboxRow",
    "Page",
    "normalize_url",
]
