"""Semantic search through pgvector on a real PostgreSQL (artifact_hub.adapters.index.pgvector).

Skipped, visibly, when the server does not offer the ``vector`` extension. The corpus tests
in test_search.py run on the same server, so on one with pgvector their PostgreSQL cases go
through the HNSW index too; these tests check what is particular to it: the column and
index are set up and filled, the index answers (not the float32 bytes), it agrees with the
exact numpy path, filters and tenants hold in the index scan, and vectors written before are
backfilled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from tests.integration.conftest import stop_within
from tests.services import PostgresServer, run_async

from artifact_hub.adapters.index.stores.search_backend import SqlSearchBackend
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import Caller
from artifact_hub.schemas.search import SearchRequest
from artifact_hub.service.search import SearchService

pytestmark = [pytest.mark.postgres]

ALICE = Caller(tenant_id="acme", agent_id="alice")
BOB = Caller(tenant_id="acme", agent_id="bob")
GLOBEX = Caller(tenant_id="globex", agent_id="alice")

TOPICS = [
    "kafka consumer group rebalance offsets partition",
    "postgres vacuum autovacuum bloat index",
    "s3 multipart upload presigned bucket",
    "template sandbox jinja injection escape",
    "embedding vector cosine nearest neighbour",
    "workflow step dependency retry timeout",
    "tenant isolation access control share",
    "signed link expiry hmac signature",
]


async def _offers_vector(server: PostgresServer) -> bool:
    conn = await asyncpg.connect(**server._connect_kwargs(server.admin_database))
    try:
        row = await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    finally:
        await conn.close()
    return row is not None


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[str]:
    if not run_async(lambda: _offers_vector(postgres_server)):
        pytest.skip(
            f"PostgreSQL at {postgres_server.host}:{postgres_server.port} does not offer the "
            "pgvector extension (semantic search there uses the numpy path)"
        )
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def _settings(tmp: Path, url: str, **extra: Any) -> HubSettings:
    return HubSettings(
        data_dir=tmp / "hub",
        database_url=url,
        default_ttl_seconds=None,
        search_embedder="hashing",
        sweep_enabled=False,
        signing_secret="pgvector-tests-signing-secret",
        **extra,
    )


@pytest.fixture(params=["exact", "hnsw"])
async def hub(
    request: pytest.FixtureRequest, tmp_path: Path, pg_database: str
) -> AsyncIterator[Hub]:
    """A hub on PostgreSQL with pgvector, searching exactly (few vectors pass the filters:
    every distance computed) or through the HNSW index (``exact_limit = 0``; sequential
    scans off in its database so that the planner reads the index even for these few rows).
    """
    extra: dict[str, Any] = {"search_pgvector": "on"}  # every semantic search
    if request.param == "hnsw":
        extra["search_pgvector_exact_limit"] = 0
        database = pg_database.rsplit("/", 1)[1]
        first = bootstrap(_settings(tmp_path, pg_database, **extra))
        await first.start()  # the schema, then the setting for later connections
        await _sql(first, f'ALTER DATABASE "{database}" SET enable_seqscan = off')
        await stop_within(first, 120)
    instance = bootstrap(_settings(tmp_path, pg_database, **extra))
    await instance.start()
    if request.param == "hnsw" and instance.indexer.pgvector is not None:
        instance.indexer.pgvector.hnsw_min_share = 0.0  # the index even for narrow filters
    try:
        yield instance
    finally:
        await stop_within(instance, 120)


def _statement_recorder(hub: Hub) -> Any:
    """A list and a ``before_cursor_execute`` listener that records the distance queries sent."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "<=>" in statement:
            sent.append((statement, parameters))

    return sent, capture


async def _fill(hub: Hub) -> dict[str, str]:
    """Five artifacts per topic for alice, one per topic for bob and for globex."""
    ids: dict[str, str] = {}
    for index, topic in enumerate(TOPICS):
        for copy in range(5):
            art = await hub.service.push(
                ALICE,
                f"{topic} note {copy}".encode(),
                name=f"{index}-{copy}.txt",
                kind="note" if copy else "summary",
                content_type="text/plain",
            )
            ids[art.artifact_id] = topic
        for caller in (BOB, GLOBEX):
            art = await hub.service.push(
                caller, topic.encode(), name=f"{index}.txt", content_type="text/plain"
            )
            ids[art.artifact_id] = topic
    await hub.indexer.flush()
    await hub.indexer.wait_pgvector()  # the index build runs apart from the indexing
    return ids


async def _sql(hub: Hub, statement: str) -> Any:
    async with hub.db.begin() as conn:
        result = await conn.execute(text(statement))
        return result.all() if result.returns_rows else None


def _numpy(hub: Hub) -> SearchService:
    """The exact path: no pgvector, no cache (reads the float32 bytes every time)."""
    return SearchService(
        hub.db,
        SqlSearchBackend(hub.indexer.pgvector),
        hub.indexer,
        hub.indexer.embedder,
        vector_cache_bytes=0,
        use_pgvector=False,
    )


async def _semantic(service: SearchService, caller: Caller, query: str, **extra: Any) -> Any:
    hits = await service.search(caller, SearchRequest(query=query, mode="semantic", **extra))
    return [(hit.artifact.artifact_id, hit.score) for hit in hits]


def _same(left: list[tuple[str, float]], right: list[tuple[str, float]]) -> bool:
    """Same ids in the same order, scores equal to float32 precision (pgvector computes in
    float32 on the server, numpy in float32 here, in another order)."""
    return [i for i, _ in left] == [i for i, _ in right] and all(
        a == pytest.approx(b, abs=1e-5) for (_, a), (_, b) in zip(left, right, strict=True)
    )


async def test_the_column_and_index_are_set_up_and_filled(hub: Hub) -> None:
    ids = await _fill(hub)
    pgvector = hub.indexer.pgvector
    assert pgvector is not None and pgvector.ready and pgvector.writes
    [(total, unfilled)] = await _sql(
        hub, "SELECT count(*), count(*) FILTER (WHERE embedding IS NULL) FROM search_vectors"
    )
    assert (total, unfilled) == (len(ids), 0)
    [(definition,)] = await _sql(
        hub, "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'ix_search_vectors_hnsw_%'"
    )
    assert "USING hnsw" in definition and "vector_cosine_ops" in definition
    assert "vector(384)" in definition and "'hashing-384'" in definition
    # The stored column holds exactly the float32 vector beside it.
    [(same,)] = await _sql(
        hub,
        "SELECT bool_and(vector_dims(embedding) = dim) FROM search_vectors",
    )
    assert same is True


async def test_pgvector_answers_and_agrees_with_the_exact_path(hub: Hub) -> None:
    await _fill(hub)
    queries = [topic.split()[0] + " " + topic.split()[2] for topic in TOPICS]
    for query in queries:
        # Limit 5: the topic's five notes. Past them every score is exactly 0 with the
        # hashing embedder (no shared word), a tie of dozens the index cuts anywhere.
        indexed = await _semantic(hub.search, ALICE, query, limit=5)
        assert all(score > 0 for _, score in indexed), query
        assert _same(indexed, await _semantic(_numpy(hub), ALICE, query, limit=5)), query
    # The statement the hub sent reads the HNSW index, or computes every distance.
    sent, capture = _statement_recorder(hub)
    event.listen(hub.db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await _semantic(hub.search, ALICE, queries[0], limit=5)
    finally:
        event.remove(hub.db.engine.sync_engine, "before_cursor_execute", capture)
    [(statement, parameters)] = sent
    async with hub.db.begin() as conn:
        await conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = strict_order")
        plan = "\n".join(
            row[0] for row in await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
    uses_index = "ix_search_vectors_hnsw_" in plan
    assert uses_index == (hub.settings.search_pgvector_exact_limit == 0), plan
    # pgvector answers, not the float32 bytes: with the bytes zeroed, the numpy path scores
    # everything 0 but the pgvector path finds the same as before.
    before = await _semantic(hub.search, ALICE, queries[0], limit=5)
    await _sql(hub, "UPDATE search_vectors SET vector = decode(repeat('00', 4 * dim), 'hex')")
    assert await _semantic(hub.search, ALICE, queries[0], limit=5) == before
    assert {score for _, score in await _semantic(_numpy(hub), ALICE, queries[0])} == {0.0}


async def test_filters_and_tenants_hold_in_the_index_scan(hub: Hub) -> None:
    ids = await _fill(hub)
    query = "kafka consumer offsets"
    # Only the caller's tenant, and only what the caller may read.
    for caller in (ALICE, BOB, GLOBEX):
        hits = await _semantic(hub.search, caller, query, limit=100)
        owned = await hub.service.list(caller, limit=200)
        assert {i for i, _ in hits} == {a.artifact_id for a in owned.items}
    # A narrow filter (one summary per topic) still fills the limit, in distance order.
    summaries = await _semantic(hub.search, ALICE, query, kind="summary", limit=8)
    assert len(summaries) == 8
    assert ids[summaries[0][0]] == TOPICS[0]
    scores = [score for _, score in summaries]
    assert scores == sorted(scores, reverse=True)
    assert _same(summaries, await _semantic(_numpy(hub), ALICE, query, kind="summary", limit=8))
    # Fewer pass than asked: all of them, no more.
    assert len(await _semantic(hub.search, ALICE, query, kind="summary", limit=50)) == 8


async def test_vectors_written_before_are_backfilled_at_start(
    tmp_path: Path, pg_database: str
) -> None:
    first = bootstrap(_settings(tmp_path, pg_database))
    await first.start()
    try:
        await _fill(first)
        expected = await _semantic(_numpy(first), ALICE, "s3 multipart", limit=6)
        # As if written by a hub before pgvector: the column empty.
        await _sql(first, "UPDATE search_vectors SET embedding = NULL")
    finally:
        await stop_within(first, 120)
    second = bootstrap(_settings(tmp_path, pg_database))
    await second.start()
    try:
        assert await second.indexer.wait_pgvector()
        assert _same(await _semantic(second.search, ALICE, "s3 multipart", limit=6), expected)
        [(unfilled,)] = await _sql(
            second, "SELECT count(*) FROM search_vectors WHERE embedding IS NULL"
        )
        assert unfilled == 0
        assert second.indexer.pgvector is not None and second.indexer.pgvector.ready
    finally:
        await stop_within(second, 120)


async def test_off_sets_nothing_up_but_keeps_an_existing_column_current(
    tmp_path: Path, pg_database: str
) -> None:
    off = bootstrap(_settings(tmp_path, pg_database, search_pgvector="off"))
    await off.start()
    try:
        await _fill(off)
        assert off.indexer.pgvector is not None and not off.indexer.pgvector.writes
        assert await _sql(off, "SELECT 1 FROM pg_extension WHERE extname = 'vector'") == []
    finally:
        await stop_within(off, 120)
    auto = bootstrap(_settings(tmp_path, pg_database))
    await auto.start()
    try:
        assert await auto.indexer.wait_pgvector()  # the backfill of what 'off' wrote
    finally:
        await stop_within(auto, 120)
    off = bootstrap(_settings(tmp_path, pg_database, search_pgvector="off"))
    await off.start()
    try:
        pgvector = off.indexer.pgvector
        assert pgvector is not None and pgvector.writes and not pgvector.ready
        await off.service.push(ALICE, b"written while off", name="late.txt")
        await off.indexer.flush()
        [(total, unfilled)] = await _sql(
            off,
            "SELECT count(*), count(*) FILTER (WHERE embedding IS NULL) FROM search_vectors",
        )
        # Another process with 'auto' searches with the column: it must miss nothing.
        assert total == 8 * 7 + 1 and unfilled == 0
        # Answered by the exact path: with zeroed bytes everything scores 0.
        await _sql(off, "UPDATE search_vectors SET vector = decode(repeat('00', 4 * dim), 'hex')")
        off.search.vectors = type(off.search.vectors)(0)  # not the matrix cached before
        hits = await _semantic(off.search, ALICE, "kafka consumer")
        assert hits and {score for _, score in hits} == {0.0}
    finally:
        await stop_within(off, 120)


@pytest.mark.parametrize("cache_bytes", [0, 64 * 1024 * 1024])
async def test_auto_searches_in_memory_while_the_vectors_fit_and_with_pgvector_after(
    tmp_path: Path, pg_database: str, cache_bytes: int
) -> None:
    hub = bootstrap(_settings(tmp_path, pg_database, search_vector_cache_bytes=cache_bytes))
    await hub.start()
    try:
        await _fill(hub)
        assert hub.indexer.pgvector is not None and hub.indexer.pgvector.ready
        expected = await _semantic(_numpy(hub), ALICE, "signed link expiry", limit=5)
        assert _same(await _semantic(hub.search, ALICE, "signed link expiry", limit=5), expected)
        # In memory: the tenant's matrix is cached. Not fitting: pgvector answered, which
        # zeroed float32 bytes (what the numpy paths read) do not change.
        assert bool(hub.search.vectors._entries) == (cache_bytes > 0)
        if cache_bytes == 0:
            await _sql(
                hub, "UPDATE search_vectors SET vector = decode(repeat('00', 4 * dim), 'hex')"
            )
            hits = await _semantic(hub.search, ALICE, "signed link expiry", limit=5)
            assert _same(hits, expected)
    finally:
        await stop_within(hub, 120)


async def test_a_narrow_filter_is_searched_exactly_however_many_pass(
    tmp_path: Path, pg_database: str
) -> None:
    # exact_limit 0: only the share of the model's vectors that pass decides.
    hub = bootstrap(
        _settings(tmp_path, pg_database, search_pgvector="on", search_pgvector_exact_limit=0)
    )
    await hub.start()
    sent, capture = _statement_recorder(hub)
    try:
        await _fill(hub)
        await _sql(hub, "ANALYZE")  # the planner's estimates decide (autovacuum's job live)
        assert hub.indexer.pgvector is not None and hub.indexer.pgvector.hnsw_min_share == 0.5
        event.listen(hub.db.engine.sync_engine, "before_cursor_execute", capture)
        try:
            narrow = await _semantic(hub.search, ALICE, "kafka offsets", kind="summary", limit=3)
        finally:
            event.remove(hub.db.engine.sync_engine, "before_cursor_execute", capture)
        # One statement, the exact one: the uncast column, which no index matches.
        [(statement, _)] = sent
        assert "search_vectors.embedding <=>" in statement
        assert "CAST(search_vectors.embedding AS vector(384))" not in statement
        assert _same(
            narrow, await _semantic(_numpy(hub), ALICE, "kafka offsets", kind="summary", limit=3)
        )
    finally:
        await stop_within(hub, 120)
