"""Events in motion: the CloudEvents codec, publishers (Kafka, in-process) and the relay."""

from artifact_hub.bus.cloudevents import KafkaRecord, decode, encode, header_map
from artifact_hub.bus.publisher import EventPublisher, InProcessBus, KafkaPublisher
from artifact_hub.bus.relay import OutboxRelay
from artifact_hub.bus.signing import SIGNATURE_HEADER, SigningPublisher, sign_record, verify_record
from artifact_hub.bus.topics import all_topics, ensure_topics, step_topics

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
