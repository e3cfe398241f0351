"""Message-bus ingestion: the checks an event passes before it may touch the index.

Agents that put a blob in the blob store themselves (at ``<s3 prefix><sha256>``, or in the
hub's folder) may publish ``artifact.created``, ``artifact.versioned``, ``artifact.shared`` and
``session.sealed`` straight to the topics (``artifact_hub.publisher`` does it for them).
The index consumer runs :meth:`IngestValidator.check` on every record before the projection,
and a record that fails goes to the dead-letter topic with ``x-dlq-reason: <code>: <detail>``
(codes: :class:`RejectReason`); the partition moves on.

Which events are trusted: every event on the bus is signed (``bus/signing.py``). The hub's
relay signs what it publishes with the hub's bus secret; an event whose ``ce_source`` is the
hub's (``settings.event_source``) must carry that signature, and is then applied without
further checks (the write path validated it). Any other event is an agent's, and must be signed
with its tenant's ingestion secret, unless the deployment marks the bus as trusted
(``settings.trusted_bus``: no signature is checked, everything else still is).

The checks, cheapest first: the CloudEvent decodes into a known event type with a valid payload,
on the topic of its type and under its key; the type is one agents may publish; the tenant
exists and signed it; the event id is new (the same event again is a harmless duplicate, a
different event reusing an id is rejected); a new artifact's id has the hub's form; metadata is
at most 8 KB; the blob fits the tenant's plan (file size and storage quota); the session is not
sealed; lineage names no other tenant's artifact (these are the service layer's own rules,
``service/rules.py``); and the blob is in the
store with the stated size and sha256.

Hashing streams the whole blob from the store, at the store's read speed (an S3 GET): a blob
of several GB holds its partition for a while, and past the consumer's ``max_poll_interval_ms``
(aiokafka: 5 minutes) the group rebalances. Blobs that big are better sent through the REST API's
presigned upload. A sha256 that the index already references is not hashed again: its blob was
verified when it was first written.

Whose blob it is is not checked: publishing an event that names a sha256 and size already in
the store gives the tenant a copy of those bytes. Only signed producers can publish, and a
sha256 cannot be guessed, but treat an ingestion secret like the API keys it stands beside.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.bus.signing import SignatureError, verify_record
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.outbox import Outbox
from artifact_hub.adapters.index.projector import event_digest
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.adapters.index.stores.artifacts import SqlArtifactStore
from artifact_hub.consumers.ingest_verdicts import (
    _ARTIFACT_ID,
    _REASONS,
    INGESTIBLE_TYPES,
    IngestRejectedError,
    RejectReason,
    Verdict,
    decode_reason,
)
from artifact_hub.core.errors import (
    ArtifactHubError,
    ChecksumMismatchError,
    EventRejectedError,
    InvalidRequestError,
)
from artifact_hub.core.settings import HubSettings
from artifact_hub.ports.blobs import BlobNotFoundError, BlobStore
from artifact_hub.schemas.cloudevents import KafkaRecord, decode
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactVersioned,
    EventBase,
)
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.accounts import AccountService
from artifact_hub.service.rules import WriteRules

__all__ = [
    "INGESTIBLE_TYPES",
    "IngestRejectedError",
    "IngestValidator",
    "RejectReason",
    "Verdict",
    "decode_reason",
]


class IngestValidator:
    """Checks records before :class:`~artifact_hub.consumers.IndexConsumer` applies them.

    Args:
        db: The index database (tenants, secrets, sessions, processed events).
        blobs: The blob store the agents write to (the hub's).
        accounts: Tenants and ingestion secrets (default: over ``db``).
        hub_source: The ``ce_source`` of the hub's own events (``settings.event_source``).
        trusted_bus: Skip signature checks (``settings.trusted_bus``).
        topic_prefix: The deployment's topic prefix.
        hub_secret: The hub's bus secret when configured (``settings.bus_signing_secret``);
            default: the one kept in the database.
        owns_blobs: Close ``blobs`` in :meth:`close`.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        accounts: AccountService | None = None,
        hub_source: str = "artifact-hub",
        trusted_bus: bool = False,
        topic_prefix: str = "",
        hub_secret: str | None = None,
        owns_blobs: bool = False,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.accounts = accounts or AccountService(db, SqlAccountStore())
        self.hub_source = hub_source
        self.trusted_bus = trusted_bus
        self.topic_prefix = topic_prefix
        self.outbox = Outbox(topic_prefix)
        self.reader = IndexReader()
        # The rule book of the service layer's writes (service/rules.py): the same checks,
        # turned into dead-letter reasons here.
        self.rules = WriteRules(self.reader, SqlArtifactStore())
        self._owns_blobs = owns_blobs
        self._configured_hub_secret = hub_secret
        self._hub_secret: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: HubSettings,
        db: Database,
        blobs: BlobStore,
        *,
        accounts: AccountService | None = None,
        owns_blobs: bool = False,
    ) -> IngestValidator:
        """A validator for a consumer process, on the parts the bootstrap built.

        Args:
            settings: The hub's settings (its event source, bus trust, topic prefix, secret).
            db: The index database.
            blobs: The hub's blob store.
            accounts: Tenants and secrets (default: over ``db``).
            owns_blobs: Close ``blobs`` in :meth:`close`.
        """
        return cls(
            db,
            blobs,
            accounts=accounts,
            hub_source=settings.event_source,
            trusted_bus=settings.trusted_bus,
            topic_prefix=settings.topic_prefix,
            hub_secret=settings.bus_signing_secret,
            owns_blobs=owns_blobs,
        )

    async def close(self) -> None:
        """Close the blob store if this validator opened it."""
        if self._owns_blobs:
            await self.blobs.close()

    # ------------------------------------------------------------------ the checks

    async def check(self, topic: str, record: KafkaRecord) -> Verdict:
        """Decode and check one record.

        Raises:
            IngestRejectedError: It must go to the dead-letter topic (the reason says why).
        """
        try:
            event = decode(record.value, record.headers)
        except EventRejectedError as error:
            code, _, detail = decode_reason(error).partition(": ")
            raise IngestRejectedError(RejectReason(code), detail) from error
        if topic != self.topic_prefix + event.topic:
            raise IngestRejectedError(
                RejectReason.WRONG_TOPIC,
                f"{event.type} belongs on {self.topic_prefix + event.topic}, not {topic}",
            )
        if record.key != event.key:
            raise IngestRejectedError(
                RejectReason.KEY_MISMATCH,
                f"the record key {record.key!r} is not the event's key {event.key!r}",
            )
        if event.source == self.hub_source:
            await self._check_hub_signature(record)
            return Verdict(event, trusted=True)
        if event.type not in INGESTIBLE_TYPES:
            raise IngestRejectedError(
                RejectReason.TYPE_NOT_INGESTIBLE,
                f"agents may publish {', '.join(sorted(INGESTIBLE_TYPES))}, not {event.type}",
            )
        tenant = await self.accounts.get_tenant(event.tenant_id)
        if tenant is None:
            raise IngestRejectedError(RejectReason.UNKNOWN_TENANT, f"no tenant {event.tenant_id!r}")
        if not self.trusted_bus:
            await self._check_tenant_signature(record, event)
        if await self._already_applied(event):
            return Verdict(event, duplicate=True)
        if isinstance(event, ArtifactCreated) and not _ARTIFACT_ID.fullmatch(event.artifact_id):
            raise IngestRejectedError(
                RejectReason.INVALID_ARTIFACT_ID,
                f"{event.artifact_id!r} is not art_ and 16 lowercase letters or digits",
            )
        labels, metrics = getattr(event, "labels", None), getattr(event, "metrics", None)
        if labels is not None or metrics is not None:
            # The values an API write may not store (NaN, infinity, NUL, deep nesting): on
            # SQLite a NaN metric would break every later metric search of the tenant.
            try:
                self.rules.values(labels, metrics)
            except InvalidRequestError as error:
                raise IngestRejectedError(RejectReason.INVALID_EVENT, error.message) from None
        if isinstance(event, ArtifactCreated | ArtifactVersioned):
            await self._check_rules(event, tenant.plan)
            await self._check_blob(event.sha256, event.size_bytes)
        return Verdict(event)

    async def _check_rules(self, event: ArtifactCreated | ArtifactVersioned, plan: str) -> None:
        """The write rules of the service layer (``service/rules.py``), as reject reasons."""
        writer = Caller(tenant_id=event.tenant_id, agent_id=event.agent_id, plan=plan)
        try:
            self.rules.metadata(event.metadata)
        except InvalidRequestError as error:
            raise IngestRejectedError(RejectReason.METADATA_TOO_LARGE, error.message) from None
        try:
            self.rules.size(writer, event.size_bytes)
            async with self.db.connect() as conn:
                session_id = event.session_id if isinstance(event, ArtifactCreated) else None
                if isinstance(event, ArtifactVersioned):
                    # A version joins the artifact's session (unknown yet if it came first).
                    session_id = await conn.scalar(
                        select(t.artifacts.c.session_id).where(
                            t.artifacts.c.artifact_id == event.artifact_id,
                            t.artifacts.c.tenant_id == event.tenant_id,
                        )
                    )
                if session_id:
                    await self.rules.session_open(conn, event.tenant_id, session_id)
                foreign = await self.rules.lineage_in_tenant(conn, event.tenant_id, event.lineage)
                if foreign is not None:
                    raise IngestRejectedError(
                        RejectReason.INVALID_LINEAGE,
                        f"lineage input {foreign} is not an artifact of tenant {event.tenant_id!r}",
                    )
                await self.rules.quota(
                    conn, writer, event.size_bytes, datetime.now(UTC), lock=False
                )
        except ArtifactHubError as error:
            raise IngestRejectedError(
                _REASONS.get(type(error), RejectReason.CONFLICT), error.message
            ) from None

    async def hub_secret(self, *, fresh: bool = False) -> str:
        """The hub's bus secret (cached; ``fresh``: read again, it may have changed)."""
        if fresh or self._hub_secret is None:
            self._hub_secret = await self.accounts.hub_bus_secret(self._configured_hub_secret)
        return self._hub_secret

    async def _check_hub_signature(self, record: KafkaRecord) -> None:
        if self.trusted_bus:
            return
        for fresh in (False, True):  # the cached secret, then re-read (it may have changed)
            secret = await self.hub_secret(fresh=fresh)
            try:
                if verify_record(record, [secret]):
                    return
            except SignatureError as error:
                raise IngestRejectedError(
                    RejectReason(error.reason),
                    f"{error}; an event with the hub's source {self.hub_source!r} "
                    "must be signed by the hub",
                ) from None
        raise IngestRejectedError(
            RejectReason.BAD_SIGNATURE,
            f"the event claims the hub's source {self.hub_source!r} but the hub did not sign it",
        )

    async def _check_tenant_signature(self, record: KafkaRecord, event: EventBase) -> None:
        secrets = await self.accounts.verification_secrets(event.tenant_id)
        if not secrets:
            raise IngestRejectedError(
                RejectReason.NO_INGESTION_SECRET,
                f"tenant {event.tenant_id!r} has no ingestion secret; create one to publish",
            )
        try:
            valid = verify_record(record, secrets)
        except SignatureError as error:
            raise IngestRejectedError(RejectReason(error.reason), str(error)) from None
        if not valid:
            raise IngestRejectedError(
                RejectReason.BAD_SIGNATURE,
                f"the signature does not match tenant {event.tenant_id!r}'s ingestion secret",
            )

    async def _already_applied(self, event: EventBase) -> bool:
        """True for a redelivery of an applied event; raise for another event with its id."""
        digest = event_digest(event)
        async with self.db.connect() as conn:
            applied = (
                await conn.execute(
                    select(t.processed_events.c.digest).where(
                        t.processed_events.c.event_id == event.event_id
                    )
                )
            ).first()
            parked = None
            if applied is None:
                parked = (
                    await conn.execute(
                        select(t.deferred_events.c.value, t.deferred_events.c.headers).where(
                            t.deferred_events.c.event_id == event.event_id
                        )
                    )
                ).first()
        if applied is not None:
            if applied.digest == digest:
                return True
            raise IngestRejectedError(
                RejectReason.DUPLICATE_EVENT_ID,
                f"event id {event.event_id!r} was already used by a different event",
            )
        if parked is not None:
            waiting = decode(str(parked.value).encode(), parked.headers)
            if event_digest(waiting) != digest:
                raise IngestRejectedError(
                    RejectReason.DUPLICATE_EVENT_ID,
                    f"event id {event.event_id!r} is already used by a different waiting event",
                )
        return False

    async def _check_blob(self, sha256: str, size: int) -> None:
        stored = await self.blobs.stat(sha256)
        if stored is None:
            raise IngestRejectedError(
                RejectReason.BLOB_MISSING, f"no blob {sha256} in the blob store"
            )
        if stored != size:
            raise IngestRejectedError(
                RejectReason.SIZE_MISMATCH,
                f"blob {sha256} is {stored} bytes, the event states {size}",
            )
        async with self.db.connect() as conn:
            known = await conn.scalar(
                select(t.artifact_versions.c.artifact_id)
                .where(t.artifact_versions.c.sha256 == sha256)
                .limit(1)
            )
        if known is not None:
            return  # verified when it was first written
        digest, length = hashlib.sha256(), 0
        try:
            async for chunk in self.blobs.get(sha256):
                digest.update(chunk)
                length += len(chunk)
        except BlobNotFoundError:
            raise IngestRejectedError(
                RejectReason.BLOB_MISSING, f"blob {sha256} disappeared while being read"
            ) from None
        except ChecksumMismatchError as error:
            raise IngestRejectedError(RejectReason.SHA256_MISMATCH, error.message) from None
        if digest.hexdigest() != sha256 or length != size:
            raise IngestRejectedError(
                RejectReason.SHA256_MISMATCH,
                f"the blob stored as {sha256} hashes to {digest.hexdigest()} ({length} bytes)",
            )

    # ------------------------------------------------------------------ after applying

    async def record_applied(self, conn: AsyncConnection, event: EventBase) -> None:
        """Add an agent's applied event to the hub's event log, in the applying transaction.

        The outbox is the hub's event log (an index is rebuilt from it); an ingested event
        joins it already marked sent, since it is on the topics already. The hub's own
        events are in it from the write path.
        """
        if event.source == self.hub_source:
            return
        await self.outbox.append(conn, event)
        await conn.execute(
            update(t.outbox)
            .where(t.outbox.c.event_id == event.event_id)
            .values(sent_at=datetime.now(UTC))
        )
