"""What became of a delivered record (:class:`Outcome`), the counts, and the dead-letter hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from artifact_hub.schemas.cloudevents import KafkaRecord

DeadLetter = Callable[[str, KafkaRecord, str], Awaitable[None]]
"""Sends ``(source_topic, record, reason)`` to the dead-letter topic."""


class Outcome(StrEnum):
    """What became of one delivered record."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class ConsumerStats:
    """Counts since start. ``applied`` includes deferred events applied later."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    deferred: int = 0
    dead_lettered: int = 0
