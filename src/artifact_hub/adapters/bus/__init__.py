"""Events in motion: the CloudEvents codec, publishers (Kafka, in-process) and the relay."""

from artifact_hub.adapters.bus.publisher import EventPublisher, InProcessBus, KafkaPublisher
from artifact_hub.adapters.bus.relay import OutboxRelay
from artifact_hub.adapters.bus.signing import (
    SIGNATURE_HEADER,
    SigningPublisher,
    sign_record,
    verify_record,
)
from artifact_hub.adapters.bus.topics import all_topics, ensure_topics, step_topics
from artifact_hub.schemas.cloudevents import KafkaRecord, decode, encode, header_map

__all__ = [
    "SIGNATURE_HEADER",
    "EventPublisher",
    "InProcessBus",
    "KafkaPublisher",
    "KafkaRecord",
    "OutboxRelay",
    "SigningPublisher",
    "all_topics",
    "decode",
    "encode",
    "ensure_topics",
    "header_map",
    "sign_record",
    "step_topics",
    "verify_record",
]
