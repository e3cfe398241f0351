"""What a rebuild reports: events applied, duplicates, and the events it rejected (and why)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from artifact_hub.schemas.cloudevents import KafkaRecord

log = logging.getLogger("artifact_hub.consumers.rebuild")


Progress = Callable[["RebuildReport"], None]


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event the rebuild could not apply (the live consumers dead-lettered it too)."""

    topic: str
    event_id: str | None
    reason: str


@dataclass
class RebuildReport:
    """What a rebuild did.

    Attributes:
        source: ``"topics"`` or ``"log"``.
        target: The target database (without its password).
        read: Records (or log rows) read.
        applied: Events in the rebuilt index (``processed_events``).
        parked: Deliveries that came before their predecessor and waited for it (applied
            once it came, unless counted in ``waiting``).
        waiting: Early events still parked at the end: their predecessor is not in the
            source (trimmed away, or never published). Consumers running on the target later
            apply them if it comes, or dead-letter them after their ``max_wait``.
        rejected: Events that can never apply, with the reason.
        seconds: How long it took.
    """

    source: str
    target: str
    read: int = 0
    applied: int = 0
    parked: int = 0
    waiting: int = 0
    rejected: list[RejectedEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Records that repeated an event already applied or parked (republished events)."""
        return max(0, self.read - self.applied - self.waiting - len(self.rejected))

    def summary(self) -> str:
        """One line for people."""
        return (
            f"rebuilt {self.target} from the {self.source}: {self.read} read, "
            f"{self.applied} applied, {self.parked} parked on the way, {self.duplicates} "
            f"duplicates, {self.waiting} waiting, "
            f"{len(self.rejected)} rejected, in {self.seconds:.1f}s"
        )


# ---------------------------------------------------------------------------- entry points


def _collect_into(report: RebuildReport) -> Callable[[str, KafkaRecord, str], Any]:
    async def collect(topic: str, record: KafkaRecord, reason: str) -> None:
        event_id = record.headers.get("ce_id")
        log.warning("rebuild: cannot apply %s from %s: %s", event_id, topic, reason)
        report.rejected.append(RejectedEvent(topic, event_id, reason))

    return collect


# ---------------------------------------------------------------------------- reading
