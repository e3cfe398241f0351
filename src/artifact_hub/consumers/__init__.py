"""Event consumers: keep the index and access lists from the artifact topics."""

from artifact_hub.consumers.app import ARTIFACT_TOPICS, build_consumer_app, subscribe_index_consumer
from artifact_hub.consumers.projection import IndexConsumer, Outcome

__all__ = [
    "ARTIFACT_TOPICS",
    "IndexConsumer",
    "Outcome",
    "build_consumer_app",
    "subscribe_index_consumer",
]
