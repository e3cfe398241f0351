"""The index consumer on both databases: early events wait durably, bad ones are dead-lettered."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import history

from artifact_hub.adapters.bus import KafkaRecord, encode
from artifact_hub.adapters.index import Database, IndexReader
from artifact_hub.consumers import IndexConsumer, Outcome


async def test_an_early_event_waits_and_is_applied_with_its_predecessor(database: Database) -> None:
    dead: list[tuple[str, str]] = []

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        dead.append((topic, reason))

    consumer = IndexConsumer(database, dead_letter=dead_letter)
    created, v2, share, v3, *_ = history("art_early")
    assert await consumer.handle("artifact.versioned", encode(v3)) == Outcome.DEFERRED
    assert await consumer.handle("artifact.versioned", encode(v2)) == Outcome.DEFERRED
    assert (
        await consumer.handle("artifact.versioned", encode(v2)) == Outcome.DEFERRED
    )  # redelivered
    assert await consumer.pending() == 2
    assert await consumer.handle("artifact.created", encode(created)) == Outcome.APPLIED
    assert consumer.stats.applied == 2  # created, and v2 released with it; v3 waits for share
    assert await consumer.pending() == 1
    assert await consumer.handle("artifact.shared", encode(share)) == Outcome.APPLIED
    assert await consumer.pending() == 0
    async with database.connect() as conn:
        assert await IndexReader().revision(conn, "art_early") == 4
    assert dead == []


async def test_an_event_whose_predecessor_never_comes_is_dead_lettered(database: Database) -> None:
    dead: list[tuple[str, str]] = []

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        dead.append((topic, reason))

    consumer = IndexConsumer(database, dead_letter=dead_letter, max_wait=timedelta(0))
    _, v2, *_ = history("art_orphan")
    assert await consumer.handle("artifact.versioned", encode(v2)) == Outcome.DEFERRED
    assert await consumer.expire_deferred() == 1
    assert await consumer.pending() == 0
    assert len(dead) == 1 and "predecessor never arrived" in dead[0][1]


async def test_a_contradicting_record_is_dead_lettered_with_its_reason(database: Database) -> None:
    dead: list[str] = []

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        dead.append(reason)

    consumer = IndexConsumer(database, dead_letter=dead_letter)
    created, *_ = history("art_twice")
    clash = created.model_copy(update={"event_id": "another-id"})
    assert await consumer.handle("artifact.created", encode(created)) == Outcome.APPLIED
    assert await consumer.handle("artifact.created", encode(created)) == Outcome.DUPLICATE
    assert await consumer.handle("artifact.created", encode(clash)) == Outcome.DEAD_LETTERED
    assert "already exists" in dead[0]
    garbage = KafkaRecord(key="k", value=b"\xff", headers={"ce_type": "artifact.created.v1"})
    assert await consumer.handle("artifact.created", garbage) == Outcome.DEAD_LETTERED


async def test_a_batch_applies_like_its_records_one_by_one(database: Database) -> None:
    """``handle_batch`` (one poll of the Kafka subscriber, one transaction): an artifact's
    events in the wrong order inside the batch are put in order, an event whose predecessor is
    in no batch yet waits, duplicates and garbage are told apart, and a conflicting record
    sends the batch through one record at a time without losing the others."""
    dead: list[str] = []

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        dead.append(reason)

    consumer = IndexConsumer(database, dead_letter=dead_letter)
    a_created, a_v2, a_share, *a_rest = history("art_batch_a")
    b_created, b_v2, b_share, *_ = history("art_batch_b")
    garbage = KafkaRecord(key="k", value=b"\xff", headers={"ce_type": "artifact.created.v1"})
    first = [
        ("artifact.versioned", encode(a_v2)),  # before its create, in the same batch
        ("artifact.shared", encode(b_share)),  # its predecessor b_v2 comes in the next batch
        ("artifact.created", encode(a_created)),
        ("artifact.created", garbage),
        ("artifact.created", encode(b_created)),
        ("artifact.created", encode(a_created)),  # redelivered within the batch
    ]
    assert await consumer.handle_batch(first) == [
        Outcome.APPLIED,
        Outcome.DEFERRED,
        Outcome.APPLIED,
        Outcome.DEAD_LETTERED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert await consumer.pending() == 1
    assert len(dead) == 1 and dead[0].startswith("invalid_event")

    # b_v2 releases the parked share; a conflicting second create of a is set aside alone.
    clash = a_created.model_copy(update={"event_id": "another-id"})
    second = [
        ("artifact.versioned", encode(b_v2)),
        ("artifact.created", encode(clash)),
        ("artifact.shared", encode(a_share)),
        *[(e.topic, encode(e)) for e in a_rest],
    ]
    outcomes = await consumer.handle_batch(second)
    assert outcomes[0] == Outcome.APPLIED
    assert outcomes[1] == Outcome.DEAD_LETTERED and "already exists" in dead[-1]
    assert outcomes[2:] == [Outcome.APPLIED] * (1 + len(a_rest))
    assert await consumer.pending() == 0
    async with database.connect() as conn:
        assert await IndexReader().revision(conn, "art_batch_a") == 3 + len(a_rest)
        assert await IndexReader().revision(conn, "art_batch_b") == 3
    assert consumer.stats.applied == 6 + len(a_rest)
    # The whole first batch again (a redelivery after a crash before the commit): nothing new.
    again = await consumer.handle_batch(first)
    assert Outcome.APPLIED not in again and Outcome.DEFERRED not in again
