"""Events in motion: the CloudEvents codec, publishers (Kafka, in-process) and the relay."""

from artifact_hub.bus.cloudevents import KafkaRecord, decode, encode, header_map
from artifact_hub.bus.publisher import EventPublisher, InProcessBus, KafkaPublisher
from artifact_hub.bus.relay import OutboxRelay

__all__ = [
    "EventPublisher",
    "InProcessBus",
    "KafkaPublisher",
    "KafkaRecord",
    "OutboxRelay",
    "decode",
    "encode",
    "header_map",
]
