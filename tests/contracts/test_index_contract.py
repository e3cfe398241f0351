"""The index contract: the same behaviour on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect
from tests.factories import BASE_TIME, created, history, sealed, sha

from artifact_hub.adapters.index import (
    ArtifactFilter,
    Database,
    IndexProjector,
    IndexReader,
    Outbox,
)
from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import EventNotReadyError, EventRejectedError, InvalidRequestError
from artifact_hub.schemas import (
    ArtifactDeleted,
    ArtifactShared,
    ArtifactVersioned,
    Caller,
    Principal,
)

projector = IndexProjector()
reader = IndexReader()
OWNER = Caller(tenant_id="t1", agent_id="agent-a")
ADMIN = Caller(tenant_id="t1", admin=True)


async def apply_all(db: Database, events: list) -> list[bool]:
    results = []
    for event in events:
        async with db.begin() as conn:
            results.append(await projector.apply(conn, event))
    return results


async def test_migrations_create_every_table_and_are_idempotent(database: Database) -> None:
    await database.migrate()  # a second run changes nothing
    async with database.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {
        "tenants",
        "artifacts",
        "artifact_versions",
        "artifact_labels",
        "artifact_tags",
        "access_entries",
        "sessions",
        "processed_events",
        "outbox",
        "alembic_version",
    } <= names


async def test_the_migrations_build_exactly_the_indexes_tables_py_declares(
    database: Database,
) -> None:
    """tables.py is the schema's source of truth: every index it names, a migration made."""

    def indexes(sync: Any) -> dict[str, set[tuple[str, ...]]]:
        inspector = inspect(sync)
        return {
            table: {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            for table in t.metadata.tables
        }

    async with database.connect() as conn:
        built = await conn.run_sync(indexes)
    for table in t.metadata.sorted_tables:
        declared = {tuple(c.name for c in index.columns) for index in table.indexes}
        missing = declared - built[table.name]
        assert not missing, f"{table.name}: no migration creates the index on {missing}"


async def test_history_is_projected(database: Database) -> None:
    events = history("art_h1", session_id="s1")
    assert await apply_all(database, events) == [True] * len(events)
    async with database.connect() as conn:
        artifact = await reader.get(conn, "t1", "art_h1")
        versions = await reader.versions(conn, "art_h1")
        access = await reader.access(conn, "art_h1")
        session = await reader.session(conn, "t1", "s1")
    assert artifact is not None
    assert artifact.version == 3
    assert artifact.sha256 == sha("art_h13")
    assert artifact.metadata == {"m": 3}
    assert artifact.labels == {"k": "w", "n": 2}
    assert artifact.pinned is True
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].deleted_at is not None and versions[1].deleted_at is None
    assert versions[1].metadata == {"m": 1}  # a version without metadata keeps the previous
    assert [(e.principal_type, e.principal_id) for e in access] == [("group", "g1")]
    assert session is not None and not session.sealed


async def test_replaying_an_event_changes_nothing(database: Database) -> None:
    events = history("art_r1")
    await apply_all(database, events)
    async with database.connect() as conn:
        before = await reader.snapshot(conn)
    assert await apply_all(database, events) == [False] * len(events)
    async with database.connect() as conn:
        assert await reader.snapshot(conn) == before


async def test_events_wait_for_their_predecessor(database: Database) -> None:
    first, second, third, *_ = history("art_o1")
    with pytest.raises(EventNotReadyError):
        await apply_all(database, [second])
    await apply_all(database, [first])
    with pytest.raises(EventNotReadyError):  # seq 3 before seq 2
        await apply_all(database, [third])
    assert await apply_all(database, [second, third]) == [True, True]


async def test_contradicting_events_are_rejected(database: Database) -> None:
    first, second, *_ = history("art_c1")
    await apply_all(database, [first, second])
    clash = ArtifactVersioned(
        tenant_id="t1", artifact_id="art_c1", seq=2, version=2, sha256=sha("other"), size_bytes=1
    )
    other_create = created("art_c1")
    other_tenant = ArtifactShared(
        tenant_id="t2", artifact_id="art_c1", seq=3, grants=[Principal(type="agent", id="x")]
    )
    missing_version = ArtifactDeleted(tenant_id="t1", artifact_id="art_c1", seq=3, version=9)
    for bad in (clash, other_create, other_tenant, missing_version):
        # As the consumers do: the error leaves the transaction, which rolls it back.
        with pytest.raises(EventRejectedError):
            await apply_all(database, [bad])
    async with database.connect() as conn:
        assert await reader.revision(conn, "art_c1") == 2  # the failed transactions left nothing


async def test_sealing_is_idempotent_and_order_free(database: Database) -> None:
    seal = sealed("s9")
    await apply_all(database, [seal, created(session_id="s9"), sealed("s9")])
    async with database.connect() as conn:
        session = await reader.session(conn, "t1", "s9")
    assert session is not None and session.sealed


async def test_filters_return_exactly_the_matching_sets(database: Database) -> None:
    a = created(
        session_id="s1",
        kind="report",
        content_type="application/pdf",
        tags=["q4", "fin"],
        labels={"team": "ml", "n": 3},
        metadata={"model": "m1"},
    )
    b = created(
        session_id="s1",
        kind="dataset",
        content_type="text/csv",
        tags=["q4"],
        labels={"team": "data"},
        metadata={"model": "m2"},
    )
    c = created(
        session_id="s2", agent_id="agent-b", kind="report", tags=["fin"], labels={"team": "ml"}
    )
    await apply_all(database, [a, b, c])

    async def ids(**filters: object) -> set[str]:
        async with database.connect() as conn:
            page = await reader.list(conn, ADMIN, ArtifactFilter(**filters), limit=200)  # type: ignore[arg-type]
        return {x.artifact_id for x in page.items}

    assert await ids() == {a.artifact_id, b.artifact_id, c.artifact_id}
    assert await ids(session_id="s1") == {a.artifact_id, b.artifact_id}
    assert await ids(agent_id="agent-b") == {c.artifact_id}
    assert await ids(kind="report") == {a.artifact_id, c.artifact_id}
    assert await ids(content_type="text/csv") == {b.artifact_id}
    assert await ids(tags=["q4"]) == {a.artifact_id, b.artifact_id}
    assert await ids(tags=["q4", "fin"]) == {a.artifact_id}
    assert await ids(labels={"team": "ml"}) == {a.artifact_id, c.artifact_id}
    assert await ids(labels={"team": "ml", "n": 3}) == {a.artifact_id}
    assert await ids(labels={"n": "3"}) == set()  # a string is not the number
    assert await ids(metadata={"model": "m2"}) == {b.artifact_id}
    assert await ids(created_after=b.occurred_at) == {b.artifact_id, c.artifact_id}
    assert await ids(created_before=b.occurred_at) == {a.artifact_id}


async def test_reads_are_confined_to_tenant_owner_and_grants(database: Database) -> None:
    mine = created(agent_id="agent-a")
    theirs = created(agent_id="agent-b")
    group_shared = created(agent_id="agent-b")
    foreign = created(tenant_id="t2", agent_id="agent-a")
    grant = ArtifactShared(
        tenant_id="t1",
        artifact_id=group_shared.artifact_id,
        seq=2,
        grants=[Principal(type="group", id="ml")],
    )
    await apply_all(database, [mine, theirs, group_shared, foreign, grant])

    async def visible(caller: Caller, **filters: object) -> set[str]:
        async with database.connect() as conn:
            page = await reader.list(conn, caller, ArtifactFilter(**filters))  # type: ignore[arg-type]
        return {x.artifact_id for x in page.items}

    assert await visible(OWNER) == {mine.artifact_id}
    in_group = Caller(tenant_id="t1", agent_id="agent-a", groups=("ml",))
    assert await visible(in_group) == {mine.artifact_id, group_shared.artifact_id}
    assert await visible(in_group, shared_only=True) == {group_shared.artifact_id}
    assert await visible(Caller(tenant_id="t2", agent_id="agent-a")) == {foreign.artifact_id}
    async with database.connect() as conn:
        assert await reader.get(conn, "t2", mine.artifact_id) is None
        assert not await reader.can_read(conn, OWNER, theirs.artifact_id)
        assert await reader.can_read(conn, in_group, group_shared.artifact_id)


async def test_keyset_pages_return_each_artifact_once_in_contract_order(database: Database) -> None:
    # Ties on created_at are broken by artifact_id, so a shuffled insert order must not matter.
    events = [
        created(f"art_p{n:03d}", occurred_at=BASE_TIME + timedelta(seconds=n // 3))
        for n in range(90)
    ]
    random.Random(7).shuffle(events)
    await apply_all(database, events)
    expected = sorted(events, key=lambda e: (e.occurred_at, e.artifact_id), reverse=True)
    seen: list[str] = []
    cursor = None
    while True:
        async with database.connect() as conn:
            page = await reader.list(conn, ADMIN, limit=7, cursor=cursor)
        seen += [x.artifact_id for x in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # Newer artifacts written while paging land before the cursor and are not repeated.
        await apply_all(
            database, [created(occurred_at=BASE_TIME + timedelta(days=1, seconds=len(seen)))]
        )
    assert seen == [e.artifact_id for e in expected]


async def test_list_rejects_bad_limits_and_cursors(database: Database) -> None:
    async with database.connect() as conn:
        for limit in (0, 201):
            with pytest.raises(InvalidRequestError):
                await reader.list(conn, ADMIN, limit=limit)
        with pytest.raises(InvalidRequestError):
            await reader.list(conn, ADMIN, cursor="not-a-cursor")


async def test_deleted_and_expired_are_hidden_unless_asked(database: Database) -> None:
    gone = created()
    old = created(expires_at=BASE_TIME)
    live = created()
    await apply_all(
        database,
        [gone, old, live, ArtifactDeleted(tenant_id="t1", artifact_id=gone.artifact_id, seq=2)],
    )
    async with database.connect() as conn:
        default = await reader.list(conn, ADMIN)
        everything = await reader.list(
            conn, ADMIN, ArtifactFilter(include_deleted=True, include_expired=True)
        )
    assert {x.artifact_id for x in default.items} == {live.artifact_id}
    assert len(everything.items) == 3


async def test_outbox_keeps_order_and_marks_sent(database: Database) -> None:
    outbox = Outbox("pfx.")
    events = [created() for _ in range(5)]
    async with database.begin() as conn:
        for event in events:
            await outbox.append(conn, event)
    async with database.connect() as conn:
        pending = await outbox.pending(conn, limit=3)
    assert [r.event_id for r in pending] == [e.event_id for e in events[:3]]
    assert pending[0].topic == "pfx.artifact.created" and pending[0].key == events[0].artifact_id
    assert pending[0].event() == events[0]
    async with database.begin() as conn:
        await outbox.mark_sent(conn, [r.id for r in pending])
    async with database.connect() as conn:
        assert await outbox.count_pending(conn) == 2
        assert [r.event_id for r in await outbox.pending(conn)] == [e.event_id for e in events[3:]]
        assert len([r async for r in outbox.log(conn, batch=2)]) == 5
