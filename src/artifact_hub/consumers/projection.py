"""The index consumer: applies events from the topics to the index, exactly once in effect.

Transport-neutral: the FastStream subscribers (Kafka) and the in-process bus both call
:meth:`IndexConsumer.handle`. An event whose predecessor has not arrived yet is retried with
backoff; one that can never apply goes to the dead-letter topic with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from artifact_hub.bus.cloudevents import KafkaRecord, decode
from artifact_hub.errors import EventNotReadyError, EventRejectedError
from artifact_hub.index.database import Database
from artifact_hub.index.projector import IndexProjector

__all__ = ["DeadLetter", "IndexConsumer", "Outcome"]

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, KafkaRecord, str], Awaitable[None]]
"""Sends ``(source_topic, record, reason)`` to the dead-letter topic."""


class Outcome(str, Enum):
    """What became of one delivered record."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class ConsumerStats:
    """Counts since start, per outcome."""

    applied: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    retried: int = 0


class IndexConsumer:
    """Applies records to the index through :class:`IndexProjector`.

    Args:
        db: The index database.
        dead_letter: Where rejected records go; None logs and drops them (embedded mode,
            where every event was already validated by the write path).
        not_ready_retries: How often an out-of-order event is retried before it is
            dead-lettered.
        not_ready_backoff: First wait between those retries, doubled each time (capped at 2s).
    """

    def __init__(
        self,
        db: Database,
        *,
        projector: IndexProjector | None = None,
        dead_letter: DeadLetter | None = None,
        not_ready_retries: int = 12,
        not_ready_backoff: float = 0.05,
    ) -> None:
        self.db = db
        self.projector = projector or IndexProjector()
        self.dead_letter = dead_letter
        self.not_ready_retries = not_ready_retries
        self.not_ready_backoff = not_ready_backoff
        self.stats = ConsumerStats()

    async def handle(self, topic: str, record: KafkaRecord) -> Outcome:
        """Decode and apply one record.

        Database errors propagate, so the transport redelivers the record later.
        """
        try:
            event = decode(record.value, record.headers)
        except EventRejectedError as error:
            return await self._reject(topic, record, error.message)
        delay = self.not_ready_backoff
        for attempt in range(self.not_ready_retries + 1):
            try:
                async with self.db.begin() as conn:
                    applied = await self.projector.apply(conn, event)
            except EventNotReadyError as error:
                if attempt == self.not_ready_retries:
                    return await self._reject(topic, record, f"not ready: {error.message}")
                self.stats.retried += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except EventRejectedError as error:
                return await self._reject(topic, record, error.message)
            if applied:
                self.stats.applied += 1
                return Outcome.APPLIED
            self.stats.duplicate += 1
            return Outcome.DUPLICATE
        raise AssertionError("unreachable")  # pragma: no cover

    async def handle_inprocess(self, topic: str, record: KafkaRecord) -> None:
        """The in-process bus's subscriber signature."""
        await self.handle(topic, record)

    async def _reject(self, topic: str, record: KafkaRecord, reason: str) -> Outcome:
        self.stats.dead_lettered += 1
        if self.dead_letter is None:
            log.error("dropping event from %s: %s", topic, reason)
        else:
            await self.dead_letter(topic, record, reason)
        return Outcome.DEAD_LETTERED
