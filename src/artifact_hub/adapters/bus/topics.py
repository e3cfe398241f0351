"""Creating the hub's topics on a Kafka cluster (idempotent)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from artifact_hub.schemas.events import DLQ_TOPIC, EVENT_TYPES

__all__ = [
    "STEP_DLQ_TOPIC",
    "STEP_REPLIES_TOPIC",
    "STEP_REQUESTS_TOPIC",
    "all_topics",
    "ensure_topics",
    "step_topics",
]

STEP_REQUESTS_TOPIC = "steps.requests"
"""Where a Coordination Hub sends step requests to the step service (``artifact-hub steps``)."""
STEP_REPLIES_TOPIC = "steps.replies"
"""Where the step service answers requests that name no ``reply_to`` topic."""
STEP_DLQ_TOPIC = "steps.dlq"
"""Where malformed step requests go, with ``x-dlq-reason``."""


def all_topics(prefix: str = "") -> list[str]:
    """Every topic the hub publishes to, the dead-letter topic included."""
    return [prefix + cls.topic for cls in EVENT_TYPES.values()] + [prefix + DLQ_TOPIC]


def step_topics(prefix: str = "") -> list[str]:
    """The step service's topics: requests, replies and its dead-letter topic."""
    return [prefix + t for t in (STEP_REQUESTS_TOPIC, STEP_REPLIES_TOPIC, STEP_DLQ_TOPIC)]


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    timeout_ms: int = 10_000,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created.

    Topics are created explicitly (not left to broker auto-creation) so that they get enough
    partitions for a consumer group to share.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process raced us
                await admin.create_topics(
                    [NewTopic(t, partitions, replication_factor) for t in missing]
                )
        return missing
    finally:
        await admin.close()
