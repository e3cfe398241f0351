"""Message-bus ingestion without a broker: ingestion secrets, the validator's decisions through
``IndexConsumer.handle``, trusted buses, the hub's own signed events, the event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from artifact_hub.adapters.bus import KafkaRecord, encode
from artifact_hub.adapters.bus.signing import sign_record
from artifact_hub.adapters.index import Database, IndexProjector
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.consumers import IndexConsumer, IngestValidator, Outcome
from artifact_hub.core.errors import ConflictError, InvalidRequestError
from artifact_hub.publisher import AgentPublisher, new_artifact_id, put_blob_local
from artifact_hub.schemas.events import ArtifactCreated, ArtifactVersioned
from artifact_hub.service.accounts import INGESTION_SECRET_PREFIX, AccountService

TENANT = "acme"


@dataclass
class Setup:
    db: Database
    accounts: AccountService
    blobs: LocalBlobStore
    secret: str
    dead: list[tuple[str, KafkaRecord, str]] = field(default_factory=list)

    def consumer(self, **options: object) -> IndexConsumer:
        validator = IngestValidator(self.db, self.blobs, **options)  # type: ignore[arg-type]

        async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
            self.dead.append((topic, record, reason))

        return IndexConsumer(self.db, validator=validator, dead_letter=dead_letter)

    async def blob(self, data: bytes, tmp_path: Path) -> tuple[str, int]:
        path = tmp_path / "upload.bin"
        path.write_bytes(data)
        return await put_blob_local(self.blobs.root, path)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    db = Database(f"sqlite:///{tmp_path / 'index.db'}")
    await db.migrate()
    accounts = AccountService(db, SqlAccountStore())
    await accounts.create_tenant(TENANT, plan="enterprise")
    secret = await accounts.create_ingestion_secret(TENANT)
    yield Setup(db, accounts, LocalBlobStore(tmp_path / "blobs"), secret)
    await db.dispose()


def _created(blob: tuple[str, int], **fields: object) -> ArtifactCreated:
    values: dict[str, object] = {
        "artifact_id": new_artifact_id(),
        "tenant_id": TENANT,
        "source": "agents/alice",
        "agent_id": "alice",
        "name": "f.txt",
        "sha256": blob[0],
        "size_bytes": blob[1],
        **fields,
    }
    return ArtifactCreated.model_validate(values)


async def test_ingestion_secrets_are_created_rotated_with_grace_and_revoked(setup: Setup) -> None:
    accounts = setup.accounts
    assert setup.secret.startswith(INGESTION_SECRET_PREFIX)
    assert await accounts.ingestion_secret(TENANT) == setup.secret
    with pytest.raises(ConflictError):
        await accounts.create_ingestion_secret(TENANT)
    with pytest.raises(InvalidRequestError):
        await accounts.create_ingestion_secret("nobody")
    with pytest.raises(InvalidRequestError):
        await accounts.rotate_ingestion_secret("nobody")

    new = await accounts.rotate_ingestion_secret(TENANT, grace=timedelta(minutes=5))
    assert new != setup.secret and await accounts.ingestion_secret(TENANT) == new
    assert await accounts.verification_secrets(TENANT) == [new, setup.secret]
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert await accounts.verification_secrets(TENANT, now=later) == [new]
    newest = await accounts.rotate_ingestion_secret(TENANT, grace=timedelta(0))
    assert await accounts.verification_secrets(TENANT) == [newest]  # cut off at once

    assert await accounts.revoke_ingestion_secret(TENANT)
    assert await accounts.verification_secrets(TENANT) == []
    assert not await accounts.revoke_ingestion_secret(TENANT)
    assert (await accounts.rotate_ingestion_secret(TENANT)).startswith(INGESTION_SECRET_PREFIX)


async def test_the_hub_bus_secret_is_made_once_and_shared_through_the_database(
    setup: Setup,
) -> None:
    first = await setup.accounts.hub_bus_secret()
    assert await AccountService(setup.db, SqlAccountStore()).hub_bus_secret() == first
    assert first not in await setup.accounts.verification_secrets(TENANT)


async def test_an_agent_event_with_a_blob_in_the_hubs_folder_is_applied_and_logged(
    setup: Setup, tmp_path: Path
) -> None:
    consumer = setup.consumer()
    blob = await setup.blob(b"local bytes", tmp_path)
    event = _created(blob, session_id="s1")
    record = sign_record(encode(event), setup.secret)
    assert await consumer.handle(event.topic, record) == Outcome.APPLIED
    assert await consumer.handle(event.topic, record) == Outcome.DUPLICATE  # redelivery
    assert setup.dead == []
    async with setup.db.connect() as conn:
        row = (
            await conn.execute(select(t.outbox).where(t.outbox.c.event_id == event.event_id))
        ).one()
    assert row.sent_at is not None and row.payload == event.model_dump_json()


async def test_a_version_that_waited_for_its_create_is_logged_when_released(
    setup: Setup, tmp_path: Path
) -> None:
    consumer = setup.consumer()
    v1, v2 = await setup.blob(b"one", tmp_path), await setup.blob(b"two", tmp_path)
    first = _created(v1)
    second = ArtifactVersioned(
        artifact_id=first.artifact_id,
        seq=2,
        version=2,
        tenant_id=TENANT,
        source="agents/alice",
        sha256=v2[0],
        size_bytes=v2[1],
    )
    records = [sign_record(encode(e), setup.secret) for e in (second, first)]
    assert await consumer.handle(second.topic, records[0]) == Outcome.DEFERRED
    assert await consumer.handle(first.topic, records[1]) == Outcome.APPLIED
    async with setup.db.connect() as conn:
        logged = (await conn.execute(select(t.outbox.c.event_id).order_by(t.outbox.c.id))).all()
    assert [r.event_id for r in logged] == [first.event_id, second.event_id]


async def test_on_a_trusted_bus_unsigned_events_apply_but_blobs_are_still_checked(
    setup: Setup, tmp_path: Path
) -> None:
    consumer = setup.consumer(trusted_bus=True)
    blob = await setup.blob(b"trusted", tmp_path)
    good = _created(blob)
    assert await consumer.handle(good.topic, encode(good)) == Outcome.APPLIED
    missing = _created(("0" * 64, 3))
    assert await consumer.handle(missing.topic, encode(missing)) == Outcome.DEAD_LETTERED
    assert setup.dead[-1][2].startswith("blob_missing: ")


async def test_the_hubs_own_events_are_trusted_only_with_the_hubs_signature(
    setup: Setup,
) -> None:
    consumer = setup.consumer()
    hub_secret = await setup.accounts.hub_bus_secret()
    # The write path validated this one (its blob is not even in this store): applied as is.
    hub_event = _created(("1" * 64, 5), source="artifact-hub")
    signed = sign_record(encode(hub_event), hub_secret)
    assert await consumer.handle(hub_event.topic, signed) == Outcome.APPLIED
    forged = _created(("2" * 64, 5), source="artifact-hub")
    for record in (encode(forged), sign_record(encode(forged), setup.secret)):
        assert await consumer.handle(forged.topic, record) == Outcome.DEAD_LETTERED
    reasons = [reason for _, _, reason in setup.dead]
    assert reasons[0].startswith("missing_signature: ")
    assert reasons[1].startswith("bad_signature: ") and "hub" in reasons[1]
    async with setup.db.connect() as conn:  # the hub's events are logged by its write path
        assert (await conn.execute(select(t.outbox))).all() == []


async def test_a_poll_drops_the_hubs_applied_events_but_not_other_events_under_their_ids(
    setup: Setup,
) -> None:
    """One database in distributed mode: the write path applied the hub's events already and
    the consumers get them again. A poll drops those the hub signed after one lookup; a record
    that reuses an applied id with other content is dead-lettered, not dropped unseen."""
    hub_secret = await setup.accounts.hub_bus_secret()
    applied = _created(("5" * 64, 5), source="artifact-hub")
    async with setup.db.begin() as conn:  # the write path's projection
        await IndexProjector().apply(conn, applied, fresh=True)
    other = applied.model_copy(update={"name": "other.txt"})  # the same event id
    poll = [
        (applied.topic, sign_record(encode(applied), hub_secret)),
        (other.topic, encode(other)),
        (other.topic, sign_record(encode(other), setup.secret)),
    ]
    consumer = setup.consumer()
    outcomes = await consumer.handle_batch(poll)
    assert outcomes == [Outcome.DUPLICATE, Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED]
    reasons = [reason.partition(":")[0] for _, _, reason in setup.dead]
    assert reasons == ["missing_signature", "bad_signature"]
    # A trusted bus has no signatures: the event's digest tells the same event from another.
    trusted = setup.consumer(trusted_bus=True)
    poll = [(applied.topic, encode(applied)), (other.topic, encode(other))]
    assert await trusted.handle_batch(poll) == [Outcome.DUPLICATE, Outcome.DEAD_LETTERED]
    assert setup.dead[-1][2].startswith("duplicate_event_id: ")
    async with setup.db.connect() as conn:
        names = (await conn.execute(select(t.artifacts.c.name))).scalars().all()
    assert names == ["f.txt"]


async def test_the_agent_publisher_signs_and_tracks_revisions(setup: Setup, tmp_path: Path) -> None:
    sent: list[tuple[str, KafkaRecord]] = []

    class Capture:
        async def publish_many(self, items: list[tuple[str, KafkaRecord]]) -> None:
            sent.extend(items)

        async def stop(self) -> None:
            return None

    blob, blob2 = await setup.blob(b"sdk", tmp_path), await setup.blob(b"sdk v2", tmp_path)
    bus = AgentPublisher(
        "unused:9092",
        TENANT,
        setup.secret,
        agent_id="alice",
        topic_prefix="p.",
        publisher=Capture(),  # type: ignore[arg-type]
    )
    created = await bus.publish_created(name="sdk.txt", sha256=blob[0], size_bytes=blob[1])
    versioned = await bus.publish_versioned(
        created.artifact_id, sha256=blob2[0], size_bytes=blob2[1]
    )
    shared = await bus.publish_shared(created.artifact_id, agents=["bob"], groups=["ml"])
    sealed = await bus.publish_sealed("s9")
    await bus.close()
    assert (versioned.seq, versioned.version, shared.seq) == (2, 2, 3)
    assert "secret" not in repr(bus) and setup.secret not in repr(bus)
    assert [topic for topic, _ in sent] == [
        "p.artifact.created",
        "p.artifact.versioned",
        "p.artifact.shared",
        "p.session.sealed",
    ]
    validator = IngestValidator(setup.db, setup.blobs, topic_prefix="p.")
    consumer = IndexConsumer(setup.db, validator=validator)
    outcomes = [await consumer.handle(topic, record) for topic, record in sent]
    assert outcomes == [Outcome.APPLIED] * 4, consumer.stats
    assert sealed.session_id == "s9"
    with pytest.raises(ValueError, match="seq="):
        await bus.publish_shared(new_artifact_id(), agents=["x"])


async def test_a_configured_hub_secret_replaces_the_one_in_the_database(setup: Setup) -> None:
    assert await setup.accounts.hub_bus_secret("ahis_configured") == "ahis_configured"
    event = _created(("3" * 64, 5), source="artifact-hub")
    record = sign_record(encode(event), "ahis_configured")
    # A consumer on another database (a second index) trusts the hub by the shared setting.
    assert (
        await setup.consumer(hub_secret="ahis_configured").handle(event.topic, record)
        == Outcome.APPLIED
    )
    other = _created(("4" * 64, 5), source="artifact-hub")
    signed = sign_record(encode(other), "ahis_configured")
    assert await setup.consumer().handle(other.topic, signed) == Outcome.DEAD_LETTERED


async def test_agent_events_may_carry_lineage_but_not_into_another_tenant(
    setup: Setup, tmp_path: Path
) -> None:
    await setup.accounts.create_tenant("globex", plan="enterprise")
    consumer = setup.consumer()
    blob = await setup.blob(b"made by a step", tmp_path)
    plain = _created(blob)
    assert "lineage" not in plain.model_dump_json()  # events without lineage are unchanged
    theirs = _created(blob, tenant_id="globex")
    async with setup.db.begin() as conn:  # another tenant's artifact, straight into the index
        await IndexProjector().apply(conn, theirs)
    record = sign_record(encode(plain), setup.secret)
    assert await consumer.handle(plain.topic, record) == Outcome.APPLIED

    def lineage(*ids: str) -> dict[str, object]:
        inputs = [{"artifact_id": i, "version": 1} for i in ids]
        return {"run_id": "run-9", "step_id": "save", "inputs": inputs}

    # Its own tenant's input, and one not known yet (topics are not ordered): applied.
    ok = _created(blob, lineage=lineage(plain.artifact_id, "art_notyetknown0000"))
    record = sign_record(encode(ok), setup.secret)
    assert await consumer.handle(ok.topic, record) == Outcome.APPLIED
    async with setup.db.connect() as conn:
        inputs = (
            await conn.execute(
                select(t.lineage_inputs.c.input_artifact_id).where(
                    t.lineage_inputs.c.artifact_id == ok.artifact_id
                )
            )
        ).scalars()
        assert set(inputs) == {plain.artifact_id, "art_notyetknown0000"}
        run = await conn.scalar(
            select(t.artifacts.c.run_id).where(t.artifacts.c.artifact_id == ok.artifact_id)
        )
    assert run == "run-9"
    # Naming the other tenant's artifact: dead-lettered with the reason.
    bad = _created(blob, lineage=lineage(plain.artifact_id, theirs.artifact_id))
    assert await consumer.handle(bad.topic, sign_record(encode(bad), setup.secret)) == (
        Outcome.DEAD_LETTERED
    )
    assert setup.dead[-1][2].startswith("invalid_lineage: ")
    assert theirs.artifact_id in setup.dead[-1][2]


async def test_an_agent_event_over_the_tenants_quota_is_dead_lettered_like_an_api_write(
    setup: Setup, tmp_path: Path
) -> None:
    """Bus ingestion asks the service layer's rule book (service/rules.py): quota included."""
    await setup.accounts.create_tenant("smallco", plan="free")  # 100 MB of storage
    secret = await setup.accounts.create_ingestion_secret("smallco")
    consumer = setup.consumer()
    blob = await setup.blob(b"x" * 1000, tmp_path)
    fits = _created(blob, tenant_id="smallco")
    assert await consumer.handle(fits.topic, sign_record(encode(fits), secret)) == Outcome.APPLIED
    # The tenant's counter says it is 500 bytes short of its quota (100 MiB).
    async with setup.db.begin() as conn:
        await conn.execute(
            t.tenant_usage.update()
            .where(t.tenant_usage.c.tenant_id == "smallco")
            .values(bytes=100 * 1024 * 1024 - 500)
        )
    over = _created(blob, tenant_id="smallco")
    outcome = await consumer.handle(over.topic, sign_record(encode(over), secret))
    assert outcome == Outcome.DEAD_LETTERED
    assert setup.dead[-1][2].startswith("quota_exceeded: ")
    async with setup.db.connect() as conn:
        ids = set(await conn.scalars(select(t.artifacts.c.artifact_id)))
    assert fits.artifact_id in ids and over.artifact_id not in ids


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_an_agent_event_with_a_nan_or_infinite_metric_is_dead_lettered(
    setup: Setup, tmp_path: Path, literal: bytes
) -> None:
    """The API refuses NaN and infinity in metrics; a bus event carrying them does not get in
    either (the JSON parser accepts the literals, so the check is the rule book's)."""
    consumer = setup.consumer()
    blob = await setup.blob(b"metrics", tmp_path)
    event = _created(blob, metrics={"loss": 1.5})
    record = encode(event)
    record = replace(record, value=record.value.replace(b'"loss":1.5', b'"loss":' + literal))
    outcome = await consumer.handle(event.topic, sign_record(record, setup.secret))
    assert outcome == Outcome.DEAD_LETTERED
    assert setup.dead[-1][2].startswith("invalid_event: metrics")
    async with setup.db.connect() as conn:
        ids = set(await conn.scalars(select(t.artifacts.c.artifact_id)))
    assert event.artifact_id not in ids
    # The same event with a finite value is applied.
    fine = _created(blob, metrics={"loss": 1.5})
    assert await consumer.handle(fine.topic, sign_record(encode(fine), setup.secret)) == (
        Outcome.APPLIED
    )
