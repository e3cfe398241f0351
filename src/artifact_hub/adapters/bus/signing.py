r"""Signed events: an HMAC-SHA256 over each record, in the ``x-ah-signature`` header.

Every event on the artifact topics carries::

    x-ah-signature: sha256=<hex HMAC-SHA256(secret, base)>
    base = ce_id "\n" ce_type "\n" ce_source "\n" ce_time "\n" key "\n" value

where the ``ce_*`` values are the record's headers (empty when absent, as in structured mode,
where the value holds the whole CloudEvent), ``key`` is the record key and ``value`` the record's
bytes as sent. The secret (its UTF-8 bytes) is the tenant's ingestion secret for events that
agents publish themselves (message-bus ingestion), and the hub's own bus secret for the events
its outbox relay publishes (see :class:`SigningPublisher`). Both live in the index database's
``ingestion_secrets`` table, so every relay and consumer process that shares the database
shares the keys, with nothing to configure.

A signed header value may not contain a newline (verification refuses it), so no two different
records share a base. Any producer can sign: the recipe above is the whole contract.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

from artifact_hub.adapters.bus.publisher import EventPublisher
from artifact_hub.schemas.cloudevents import KafkaRecord

__all__ = [
    "SIGNATURE_HEADER",
    "SignatureError",
    "SigningPublisher",
    "sign_record",
    "signature_for",
    "verify_record",
]

SIGNATURE_HEADER = "x-ah-signature"
_SCHEME = "sha256="
_SIGNED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_time")


class SignatureError(ValueError):
    """The record's signature is missing or malformed (``reason`` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _base(record: KafkaRecord) -> bytes:
    fields = [record.headers.get(name, "") for name in _SIGNED_HEADERS] + [record.key]
    for value in fields:
        if "\n" in value:
            raise SignatureError("bad_signature", "a signed header or the key holds a newline")
    return "\n".join(fields).encode() + b"\n" + record.value


def signature_for(record: KafkaRecord, secret: str) -> str:
    """The ``x-ah-signature`` value of ``record`` under ``secret``.

    Raises:
        SignatureError: A signed header or the key contains a newline.
    """
    digest = hmac.new(secret.encode(), _base(record), hashlib.sha256).hexdigest()
    return _SCHEME + digest


def sign_record(record: KafkaRecord, secret: str) -> KafkaRecord:
    """A copy of ``record`` with its signature header set."""
    headers = {**record.headers, SIGNATURE_HEADER: signature_for(record, secret)}
    return replace(record, headers=headers)


def verify_record(record: KafkaRecord, secrets: Iterable[str]) -> bool:
    """Whether the record's signature was made with one of ``secrets``.

    Raises:
        SignatureError: No signature header (``missing_signature``), or one that is not
            ``sha256=<64 hex>`` (``bad_signature``).
    """
    given = record.headers.get(SIGNATURE_HEADER)
    if not given:
        raise SignatureError("missing_signature", f"the record has no {SIGNATURE_HEADER} header")
    if not given.startswith(_SCHEME) or len(given) != len(_SCHEME) + 64:
        raise SignatureError("bad_signature", f"{SIGNATURE_HEADER} is not sha256=<64 hex digits>")
    matched = False
    for secret in secrets:
        # Compare against every candidate (no early exit): timing says nothing about which.
        matched |= hmac.compare_digest(signature_for(record, secret), given)
    return matched


class SigningPublisher(EventPublisher):
    """Wraps a publisher and signs every record with a secret fetched when first needed.

    The hub wraps its Kafka publisher in one, with the hub's bus secret, so consumers can tell
    the hub's own events (trusted: validated by the write path already) from an agent's that
    merely claim the hub's source.

    Args:
        inner: Where the signed records go.
        secret: Returns the secret (called once, then cached).
    """

    def __init__(self, inner: EventPublisher, secret: Callable[[], Awaitable[str]]) -> None:
        self.inner = inner
        self._secret_source = secret
        self._secret: str | None = None

    async def start(self) -> None:
        """Start the wrapped publisher."""
        await self.inner.start()

    async def stop(self) -> None:
        """Stop the wrapped publisher."""
        await self.inner.stop()

    async def publish_many(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        """Sign each record, then publish them all through the wrapped publisher."""
        if self._secret is None:
            self._secret = await self._secret_source()
        secret = self._secret
        await self.inner.publish_many([(topic, sign_record(r, secret)) for topic, r in items])
