"""Ingestion verdicts: which types agents may publish, why a record is rejected, the verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from artifact_hub.core.errors import (
    ArtifactHubError,
    EventRejectedError,
    FileTooLargeError,
    QuotaExceededError,
    SessionSealedError,
)
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactShared,
    ArtifactVersioned,
    HubEvent,
    SessionSealed,
)

INGESTIBLE_TYPES: frozenset[str] = frozenset(
    cls.topic for cls in (ArtifactCreated, ArtifactVersioned, ArtifactShared, SessionSealed)
)
"""The event types agents may publish; the others (delete, update, expire) are the hub's."""

_ARTIFACT_ID = re.compile(r"art_[a-z0-9]{16}")


class RejectReason(StrEnum):
    """Why a record went to the dead-letter topic: the first word of ``x-dlq-reason``."""

    INVALID_EVENT = "invalid_event"
    """Not JSON, not a CloudEvent, or a payload that does not match its type's schema."""
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    KEY_MISMATCH = "key_mismatch"
    TYPE_NOT_INGESTIBLE = "type_not_ingestible"
    UNKNOWN_TENANT = "unknown_tenant"
    NO_INGESTION_SECRET = "no_ingestion_secret"
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    INVALID_ARTIFACT_ID = "invalid_artifact_id"
    METADATA_TOO_LARGE = "metadata_too_large"
    FILE_TOO_LARGE = "file_too_large"
    SESSION_SEALED = "session_sealed"
    BLOB_MISSING = "blob_missing"
    SIZE_MISMATCH = "size_mismatch"
    SHA256_MISMATCH = "sha256_mismatch"
    CONFLICT = "conflict"
    """The event contradicts the index (a second create, another tenant's artifact, ...)."""
    PREDECESSOR_MISSING = "predecessor_missing"
    """An event waited longer than ``max_wait`` for its predecessor (e.g. version before create)."""
    INVALID_LINEAGE = "invalid_lineage"
    """The event's lineage names an input artifact of another tenant."""
    QUOTA_EXCEEDED = "quota_exceeded"
    """The blob would take the tenant past its plan's storage quota."""


class IngestRejectedError(Exception):
    """The record may not touch the index.

    Attributes:
        reason: The code.
        detail: What exactly is wrong (never a secret).
    """

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def header(self) -> str:
        """The ``x-dlq-reason`` value: ``<code>: <detail>``."""
        return f"{self.reason}: {self.detail}"


_REASONS: dict[type[ArtifactHubError], RejectReason] = {
    FileTooLargeError: RejectReason.FILE_TOO_LARGE,
    SessionSealedError: RejectReason.SESSION_SEALED,
    QuotaExceededError: RejectReason.QUOTA_EXCEEDED,
}
"""The rule book's errors (``service/rules.py``) as dead-letter reasons."""


def decode_reason(error: EventRejectedError) -> str:
    """The ``x-dlq-reason`` of a record that does not decode."""
    code = (
        RejectReason.UNKNOWN_TYPE
        if error.message.startswith("unknown event type")
        else RejectReason.INVALID_EVENT
    )
    return f"{code}: {error.message}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A record that passed.

    Attributes:
        event: The decoded event.
        trusted: The hub's own event (signed by the hub, or claiming its source on a trusted
            bus): applied without further checks, and already in the hub's event log.
        duplicate: Exactly this event was applied already: nothing to do.
    """

    event: HubEvent
    trusted: bool = False
    duplicate: bool = False
