"""Event consumers: keep the index and access lists from the artifact topics."""

from artifact_hub.consumers.app import ARTIFACT_TOPICS, build_consumer_app, subscribe_index_consumer
from artifact_hub.consumers.projection import IndexConsumer, Outcome
from artifact_hub.consumers.runner import build_validated_consumer, run_consumers
from artifact_hub.consumers.validation import IngestRejectedError, IngestValidator, RejectReason

__all__ = [
    "ARTIFACT_TOPICS",
    "IndexConsumer",
    "IngestRejectedError",
    "IngestValidator",
    "Outcome",
    "RejectReason",
    "build_consumer_app",
    "build_validated_consumer",
    "run_consumers",
    "subscribe_index_consumer",
]
