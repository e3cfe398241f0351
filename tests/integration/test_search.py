"""Search on both stacks over a corpus with known answers (tests/integration/search_corpus.py).

One hub per stack is filled once for the module, with the MiniLM embedder: 20 notes, their
decoys and 160 generated artifacts of mixed kinds (200 for the owner), and copies of notes in
another tenant and from another agent. The tests only read it, except those with their own hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import STACKS
from tests.integration.search_corpus import (
    FILLER_COUNT,
    NOTES,
    FillerSpec,
    content_words,
    decoy,
    filler_specs,
)

from artifact_hub import AsyncClient
from artifact_hub.adapters.index.stores.search_backend import SqlSearchBackend
from artifact_hub.api import create_app
from artifact_hub.core.errors import InvalidRequestError, SearchUnavailableError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import Artifact, Caller
from artifact_hub.schemas.search import SearchRequest
from artifact_hub.service.embedders import MiniLMEmbedder
from artifact_hub.service.search import SearchService

TENANT = "acme"
OWNER = Caller(tenant_id=TENANT, agent_id="alice")
PEER = Caller(tenant_id=TENANT, agent_id="bob")
STRANGER = Caller(tenant_id="globex", agent_id="alice")
MODES = ("lexical", "semantic", "hybrid")


@dataclass
class Corpus:
    """The filled hub and what it holds."""

    hub: Hub
    notes: list[Artifact] = field(default_factory=list)
    decoys: list[Artifact] = field(default_factory=list)
    fillers: list[tuple[FillerSpec, Artifact]] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)  # other tenant's and other agent's ids
    midpoint: datetime | None = None


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The model, loaded once for the session (every hub of the process shares it)."""
    embedder = MiniLMEmbedder()
    embedder.load()
    return embedder


def _settings(request: pytest.FixtureRequest, tmp: Path, stack: str) -> tuple[HubSettings, Any]:
    common: dict[str, Any] = {
        "data_dir": tmp / "hub",
        "default_ttl_seconds": None,
        "search_embedder": "minilm",
        "sweep_enabled": False,
        "signing_secret": "search-tests-signing-secret",
        "rate_limit_per_second": 100_000,
        "rate_limit_burst": 100_000,
    }
    if stack == "sqlite-local":
        return HubSettings(**common), None
    server = request.getfixturevalue("postgres_server")
    s3 = request.getfixturevalue("s3_server")
    name = server.create_database()
    settings = HubSettings(
        **common,
        database_url=server.url(name),
        blob_store="s3",
        s3_bucket=s3.create_bucket(),
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.settings()["region_name"],
        s3_access_key_id=s3.settings()["aws_access_key_id"],
        s3_secret_access_key=s3.settings()["aws_secret_access_key"],
    )
    return settings, lambda: server.drop_database(name)


async def _gather(calls: list[Any], width: int = 16) -> list[Artifact]:
    """Run pushes concurrently in chunks of ``width``: chunks keep their order in time."""
    done: list[Artifact] = []
    for start in range(0, len(calls), width):
        done.extend(await asyncio.gather(*(call() for call in calls[start : start + width])))
    return done


def _push(hub: Hub, caller: Caller, content: bytes, **fields: Any) -> Any:
    return lambda: hub.service.push(caller, content, **fields)


async def _fill(hub: Hub) -> Corpus:
    corpus = Corpus(hub=hub)
    text = {"content_type": "text/plain"}
    corpus.notes = await _gather(
        [
            _push(
                hub,
                OWNER,
                n.text.encode(),
                name=f"note-{i:02d}.txt",
                kind="note",
                tags=["note"],
                **text,
            )
            for i, n in enumerate(NOTES)
        ]
    )
    corpus.decoys = await _gather(
        [
            _push(hub, OWNER, decoy(n).encode(), name=f"scrap-{i:02d}.txt", kind="scrap", **text)
            for i, n in enumerate(NOTES)
        ]
    )
    specs = filler_specs()
    calls = [
        _push(
            hub,
            OWNER,
            spec.content,
            name=spec.name,
            kind=spec.kind,
            content_type=spec.content_type,
            labels=spec.labels,
            tags=spec.tags,
            metrics=spec.metrics,
            run_id=spec.run_id,
        )
        for spec in specs
    ]
    half = FILLER_COUNT // 2
    # Chunks of 20: the tied pairs of best() (10 and 60, 25 and 85) land in different chunks.
    first = await _gather(calls[:half], width=20)
    await asyncio.sleep(0.01)
    corpus.midpoint = datetime.now(UTC)
    await asyncio.sleep(0.01)
    second = await _gather(calls[half:], width=20)
    corpus.fillers = list(zip(specs, first + second, strict=True))
    # The same notes, word for word, where alice must never see them.
    foreign = await _gather(
        [
            _push(
                hub,
                caller,
                note.text.encode(),
                name=f"note-{i:02d}.txt",
                kind="note",
                tags=["note"],
                metrics={"accuracy": 1.0},
                run_id="run-a",
                **text,
            )
            for caller in (STRANGER, PEER)
            for i, note in enumerate(NOTES[:5])
        ]
    )
    corpus.foreign = {artifact.artifact_id for artifact in foreign}
    await hub.indexer.flush()
    return corpus


@pytest.fixture(scope="module", params=STACKS)
async def corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, minilm: Any
) -> AsyncIterator[Corpus]:
    settings, cleanup = _settings(request, tmp_path_factory.mktemp("search"), request.param)
    hub = bootstrap(settings)
    await hub.start()
    try:
        yield await _fill(hub)
    finally:
        await hub.stop()
        if cleanup:
            cleanup()


async def _ids(hub: Hub, caller: Caller = OWNER, **fields: Any) -> list[str]:
    hits = await hub.search.search(caller, SearchRequest(**fields))
    return [hit.artifact.artifact_id for hit in hits]


# ------------------------------------------------------------------------------ structured


async def test_structured_filters_return_exactly_the_expected_sets(corpus: Corpus) -> None:
    fillers = corpus.fillers
    everything = await _ids(corpus.hub, limit=1000)
    assert len(everything) == len(corpus.notes) + len(corpus.decoys) + len(fillers) >= 200
    assert len({spec.kind for spec, _ in fillers} | {"note", "scrap"}) == 7

    def expect(keep: Any) -> set[str]:
        return {artifact.artifact_id for spec, artifact in fillers if keep(spec)}

    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"kind": "model"}, expect(lambda s: s.kind == "model")),
        ({"tags": ["weekly"]}, expect(lambda s: "weekly" in s.tags)),
        ({"tags": ["weekly", "final"]}, expect(lambda s: {"weekly", "final"} <= set(s.tags))),
        ({"labels": {"team": "nlp"}}, expect(lambda s: s.labels["team"] == "nlp")),
        (
            {"kind": "report", "labels": {"team": "vision", "stage": "prod"}},
            expect(
                lambda s: (
                    s.kind == "report"
                    and s.labels["team"] == "vision"
                    and s.labels["stage"] == "prod"
                )
            ),
        ),
        ({"labels": {"domain": "finance"}}, expect(lambda s: s.labels.get("domain") == "finance")),
        ({"labels": {"run_id": "run-b"}}, expect(lambda s: s.run_id == "run-b")),
        (
            {"kind": "dataset", "tags": ["draft"], "labels": {"run_id": "run-c"}},
            expect(lambda s: s.kind == "dataset" and "draft" in s.tags and s.run_id == "run-c"),
        ),
        ({"created_after": corpus.midpoint}, expect(lambda s: s.index >= FILLER_COUNT // 2)),
        (
            {"kind": "config", "created_before": corpus.midpoint},
            expect(lambda s: s.kind == "config" and s.index < FILLER_COUNT // 2),
        ),
    ]
    for fields, expected in cases:
        found = await _ids(corpus.hub, **fields, limit=1000)
        assert len(found) == len(set(found))
        assert set(found) == expected, fields
        assert expected, f"the case {fields} tests nothing"
    # Newest first, as list does; a time window that covers everything changes nothing.
    models = await corpus.hub.search.search(OWNER, SearchRequest(kind="model", limit=1000))
    stamps = [(hit.artifact.created_at, hit.artifact.artifact_id) for hit in models]
    assert stamps == sorted(stamps, reverse=True)
    assert set(await _ids(corpus.hub, kind="model", time_window="24h", limit=1000)) == {
        hit.artifact.artifact_id for hit in models
    }
    assert await _ids(corpus.hub, kind="model", limit=7) == [
        hit.artifact.artifact_id for hit in models[:7]
    ]


async def test_best_picks_the_extreme_metric_and_breaks_ties_stably(corpus: Corpus) -> None:
    by_index = {spec.index: artifact for spec, artifact in corpus.fillers}
    best = await corpus.hub.search.best(OWNER, metric="accuracy", kind="model")
    assert best is not None and best.artifact_id == by_index[10].artifact_id  # 60 ties, later
    lowest = await corpus.hub.search.best(OWNER, metric="loss", metric_mode="min", kind="model")
    assert lowest is not None and lowest.artifact_id == by_index[25].artifact_id
    # Against a brute-force answer over a filtered subset.
    candidates = [
        (spec, artifact)
        for spec, artifact in corpus.fillers
        if spec.kind == "model"
        and spec.labels["team"] == "infra"
        and isinstance(spec.metrics.get("accuracy"), float)
    ]
    expected = min(candidates, key=lambda pair: (-pair[0].metrics["accuracy"], pair[1].created_at))[
        1
    ]
    found = await corpus.hub.search.best(
        OWNER, metric="accuracy", kind="model", labels={"team": "infra"}
    )
    assert found is not None and found.artifact_id == expected.artifact_id
    # Ranking by a metric: scores are the values, in order; the non-number is left out.
    hits = await corpus.hub.search.search(
        OWNER, SearchRequest(metric="accuracy", kind="model", limit=1000)
    )
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert by_index[95].artifact_id not in {hit.artifact.artifact_id for hit in hits}
    assert len(hits) == sum(1 for s, _ in corpus.fillers if s.kind == "model") - 1
    assert await corpus.hub.search.best(OWNER, metric="no-such-metric") is None
    with pytest.raises(InvalidRequestError):
        await corpus.hub.search.best(OWNER, metric='bad"name')


# ------------------------------------------------------------------------------ lexical


async def test_lexical_ranks_the_exact_phrase_first_for_each_query(corpus: Corpus) -> None:
    for note, artifact in zip(NOTES, corpus.notes, strict=True):
        hits = await corpus.hub.search.search(
            OWNER, SearchRequest(query=note.phrase, mode="lexical")
        )
        assert hits, note.phrase
        assert hits[0].artifact.artifact_id == artifact.artifact_id, note.phrase
        assert hits[0].mode == "lexical"
        scores = [hit.score or 0.0 for hit in hits]
        assert scores == sorted(scores, reverse=True)
        # The decoy holds every word of the phrase (more often) and is found, below.
        ids = [hit.artifact.artifact_id for hit in hits]
        decoy_id = corpus.decoys[NOTES.index(note)].artifact_id
        assert decoy_id in ids[1:], note.phrase


async def test_lexical_matches_names_labels_and_filters(corpus: Corpus) -> None:
    spec, artifact = corpus.fillers[42]
    found = await _ids(corpus.hub, query=spec.name, mode="lexical")
    assert found[0] == artifact.artifact_id
    finance = await _ids(corpus.hub, query="finance", mode="lexical", limit=1000)
    assert set(finance) == {
        a.artifact_id for s, a in corpus.fillers if s.labels.get("domain") == "finance"
    }
    # Text content of JSON artifacts is indexed too.
    config = next((s, a) for s, a in corpus.fillers if s.kind == "config" and s.index == 3)
    found = await _ids(corpus.hub, query='"seed": 3', mode="lexical", kind="config")
    assert config[1].artifact_id in found
    # Filters narrow the text hits.
    assert await _ids(corpus.hub, query=NOTES[0].phrase, mode="lexical", kind="scrap") == [
        corpus.decoys[0].artifact_id
    ]
    assert await _ids(corpus.hub, query="zyzzyva quokka", mode="lexical") == []


# ------------------------------------------------------------------------------ semantic


async def test_semantic_finds_paraphrases_sharing_no_words(corpus: Corpus) -> None:
    found = 0
    misses = []
    for note, artifact in zip(NOTES, corpus.notes, strict=True):
        assert not content_words(note.paraphrase) & content_words(note.text), note.paraphrase
        top = await _ids(corpus.hub, query=note.paraphrase, mode="semantic", limit=3)
        if artifact.artifact_id in top:
            found += 1
        else:
            misses.append(note.paraphrase)
    assert found >= 16, misses


def _ranked(hits: list[Any]) -> list[tuple[float, str]]:
    return sorted((-round(hit.score, 5), hit.artifact.artifact_id) for hit in hits)


async def test_semantic_walk_over_cached_vectors_equals_the_filtered_scan(
    corpus: Corpus,
) -> None:
    hub = corpus.hub
    embedder = hub.indexer.embedder
    # Both in numpy: the walk over the cached matrix, and the scan of the filtered rows.
    backend = SqlSearchBackend(hub.indexer.pgvector)
    walker = SearchService(hub.db, backend, hub.indexer, embedder, use_pgvector=False)
    uncached = SearchService(
        hub.db, backend, hub.indexer, embedder, vector_cache_bytes=0, use_pgvector=False
    )
    admin = Caller(tenant_id=TENANT, admin=True)
    for caller, fields in (
        (OWNER, {"query": NOTES[1].paraphrase}),
        (OWNER, {"query": NOTES[2].paraphrase, "kind": "report", "limit": 7}),
        (OWNER, {"query": "results of the model", "labels": {"domain": "finance"}}),
        (OWNER, {"query": NOTES[8].paraphrase, "tags": ["weekly", "final"], "limit": 50}),
        (PEER, {"query": NOTES[0].paraphrase, "limit": 20}),  # sees 5 of the whole tenant
        (admin, {"query": NOTES[4].paraphrase, "limit": 30}),
    ):
        request = SearchRequest(mode="semantic", **fields)
        walked = await walker.search(caller, request)
        scanned = await uncached.search(caller, request)
        # The hub's own: the HNSW index on PostgreSQL with pgvector, else the walk.
        indexed = await hub.search.search(caller, request)
        for hits in (walked, indexed):
            scores = [hit.score for hit in hits]
            assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
            # Equal texts have equal scores (up to the last bits of float32 arithmetic):
            # compare by rounded score, then id.
            assert _ranked(hits) == _ranked(scanned), fields
            assert [h.score for h in hits] == pytest.approx([h.score for h in scanned], abs=1e-5)
    assert walker.vectors._entries  # the walk did run on a cached matrix


async def test_hybrid_fuses_both_rankings(corpus: Corpus) -> None:
    for number in (0, 7, 13):
        note, artifact = NOTES[number], corpus.notes[number]
        for query in (note.phrase, note.paraphrase):
            hits = await corpus.hub.search.search(OWNER, SearchRequest(query=query, limit=5))
            assert hits[0].mode == "hybrid"
            assert artifact.artifact_id in [hit.artifact.artifact_id for hit in hits], query
    # Filters apply to both halves.
    hits = await corpus.hub.search.search(
        OWNER, SearchRequest(query=NOTES[3].paraphrase, kind="model", limit=50)
    )
    assert hits and all(hit.artifact.kind == "model" for hit in hits)


# ------------------------------------------------------------------------------ isolation


async def test_other_tenants_and_unshared_artifacts_never_appear(corpus: Corpus) -> None:
    hub = corpus.hub
    for mode in MODES:
        for note in NOTES[:5]:
            for query in (note.phrase, note.paraphrase):
                found = set(await _ids(hub, query=query, mode=mode, limit=1000))
                assert not found & corpus.foreign, (mode, query)
    structured = set(await _ids(hub, labels={"run_id": "run-a"}, limit=1000))
    assert not structured & corpus.foreign
    assert await hub.search.best(OWNER, metric="accuracy", kind="note") is None
    # The stranger sees its own notes only, in every mode.
    for mode in MODES:
        found = set(await _ids(hub, STRANGER, query=NOTES[0].phrase, mode=mode, limit=1000))
        assert found and found <= corpus.foreign, mode
    # An admin of the tenant sees bob's notes but never the other tenant's.
    admin = Caller(tenant_id=TENANT, admin=True)
    seen = set(await _ids(hub, admin, query=NOTES[1].phrase, mode="lexical", limit=1000))
    assert corpus.notes[1].artifact_id in seen
    assert len(seen & corpus.foreign) == 1  # bob's copy, not globex's


async def test_index_follows_updates_shares_and_deletes(tmp_path: Path, minilm: Any) -> None:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=None,
        search_embedder="minilm",
        sweep_enabled=False,
    )
    async with bootstrap(settings) as hub:
        first = await hub.service.push(
            OWNER, NOTES[2].text.encode(), name="dogs.txt", content_type="text/plain"
        )
        assert await _ids(hub, query="puppy treat", mode="lexical") == [first.artifact_id]
        # The vectors held in memory follow new and deleted artifacts.
        puppy = NOTES[2].paraphrase
        assert await _ids(hub, query=puppy, mode="semantic", limit=1) == [first.artifact_id]
        second = await hub.service.push(
            OWNER, NOTES[16].text.encode(), name="ice.txt", content_type="text/plain"
        )
        ice = NOTES[16].paraphrase
        assert await _ids(hub, query=ice, mode="semantic", limit=1) == [second.artifact_id]
        await hub.service.delete(OWNER, second.artifact_id)
        assert await _ids(hub, query=ice, mode="semantic") == [first.artifact_id]
        assert await _ids(hub, PEER, query="puppy treat", mode="lexical") == []
        await hub.service.share(OWNER, first.artifact_id, agents=["bob"])
        assert await _ids(hub, PEER, query="puppy treat", mode="lexical") == [first.artifact_id]
        # A new version replaces the text; an update of labels and tags is searchable.
        await hub.service.add_version(OWNER, first.artifact_id, NOTES[5].text.encode())
        assert await _ids(hub, query="puppy treat", mode="lexical") == []
        assert await _ids(hub, query="molten lava", mode="lexical") == [first.artifact_id]
        assert await _ids(hub, query="magma crater", mode="semantic", limit=1) == [
            first.artifact_id
        ]
        await hub.service.update(OWNER, first.artifact_id, labels={"project": "krakatoa"})
        assert await _ids(hub, query="krakatoa", mode="lexical") == [first.artifact_id]
        await hub.service.delete(OWNER, first.artifact_id)
        for mode in MODES:
            assert await _ids(hub, query="molten lava", mode=mode) == [], mode
        async with hub.db.connect() as conn:
            from sqlalchemy import func, select

            from artifact_hub.adapters.index import tables as t

            assert await conn.scalar(select(func.count()).select_from(t.search_documents)) == 0
            assert await conn.scalar(select(func.count()).select_from(t.search_vectors)) == 0


async def test_reindex_catches_up_what_was_never_indexed(tmp_path: Path, minilm: Any) -> None:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=None,
        search_embedder="minilm",
        sweep_enabled=False,
    )
    async with bootstrap(settings) as hub:
        hub.service.after_commit.clear()  # as if the events came from elsewhere
        # The start's own catch-up runs in the background; on a loaded machine it could still
        # be scanning while the pushes below commit, and index some of them.
        await hub.search.indexer.flush()
        pushed = [
            await hub.service.push(
                OWNER, note.text.encode(), name=f"n{i}.txt", content_type="text/plain"
            )
            for i, note in enumerate(NOTES[:4])
        ]
        assert await _ids(hub, query=NOTES[3].phrase, mode="lexical") == []
        assert await hub.search.reindex() == 4
        assert await hub.search.reindex() == 0  # idempotent
        assert (await _ids(hub, query=NOTES[3].phrase, mode="lexical"))[:1] == [
            pushed[3].artifact_id
        ]
    # A restarted hub catches up by itself.
    async with bootstrap(settings) as hub:
        hub.service.after_commit.clear()
        late = await hub.service.push(
            OWNER, NOTES[9].text.encode(), name="late.txt", content_type="text/plain"
        )
    async with bootstrap(settings) as hub:
        assert await _ids(hub, query=NOTES[9].phrase, mode="lexical") == [late.artifact_id]
        assert await _ids(hub, query=NOTES[9].paraphrase, mode="semantic", limit=1) == [
            late.artifact_id
        ]


# ------------------------------------------------------------------------------ REST and SDK


async def test_rest_and_sdk_search(corpus: Corpus) -> None:
    hub = corpus.hub
    await hub.accounts.create_tenant(TENANT, plan="enterprise")  # once per stack's hub
    _, key = await hub.accounts.create_key(TENANT, "alice")
    transport = httpx.ASGITransport(app=create_app(hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        auth = {"Authorization": f"Bearer {key}"}
        note = NOTES[4]
        response = await http.get(
            "/v1/search", params={"q": note.phrase, "mode": "lexical"}, headers=auth
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"][0]["artifact"]["artifact_id"] == corpus.notes[4].artifact_id
        assert body["data"][0]["mode"] == "lexical"
        # Structured: label.<k>=v and tag, exactly like GET /v1/artifacts.
        response = await http.get(
            "/v1/search",
            params=[
                ("kind", "report"),
                ("label.team", "nlp"),
                ("tag", "weekly"),
                ("limit", "1000"),
            ],
            headers=auth,
        )
        expected = {
            a.artifact_id
            for s, a in corpus.fillers
            if s.kind == "report" and s.labels["team"] == "nlp" and "weekly" in s.tags
        }
        assert {hit["artifact"]["artifact_id"] for hit in response.json()["data"]} == expected
        response = await http.get(
            "/v1/search",
            params={
                "labels": '{"run_id": "run-b", "team": "infra"}',
                "metric": "accuracy",
                "limit": "1",
            },
            headers=auth,
        )
        [hit] = response.json()["data"]
        assert hit["artifact"]["run_id"] == "run-b" and hit["artifact"]["labels"]["team"] == "infra"
        for params, status in (
            ({"q": "x", "mode": "fuzzy"}, 422),
            ({"mode": "semantic"}, 400),
            ({"time_window": "soon"}, 400),
            ({"labels": "[1]"}, 400),
            ({"limit": "0"}, 422),
        ):
            response = await http.get("/v1/search", params=params, headers=auth)
            assert response.status_code == status, (params, response.text)
            assert response.json()["error"]["code"] == "invalid_request"
        assert (await http.get("/v1/search", params={"q": "x"})).status_code == 401

    async with AsyncClient(api_key=key, base_url="http://hub", transport=transport) as client:
        hits = await client.search(NOTES[6].paraphrase, mode="semantic", limit=3)
        assert corpus.notes[6].artifact_id in [hit.artifact.artifact_id for hit in hits]
        hits = await client.search(kind="model", metric="loss", metric_mode="min", limit=1)
        by_index = {spec.index: artifact for spec, artifact in corpus.fillers}
        assert hits[0].artifact.artifact_id == by_index[25].artifact_id
        assert hits[0].score == 0.05
        hits = await client.search(
            kind="config", created_after=corpus.midpoint, time_window=timedelta(days=1), limit=1000
        )
        assert {hit.artifact.artifact_id for hit in hits} == {
            a.artifact_id
            for s, a in corpus.fillers
            if s.kind == "config" and s.index >= FILLER_COUNT // 2
        }
        with pytest.raises(InvalidRequestError):
            await client.search(mode="lexical")


async def test_a_hub_without_embedder_searches_lexically(tmp_path: Path) -> None:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=None,
        search_embedder="none",
        sweep_enabled=False,
        signing_secret="search-tests-signing-secret",
    )
    async with bootstrap(settings) as hub:
        pushed = await hub.service.push(
            OWNER, NOTES[0].text.encode(), name="bread.txt", content_type="text/plain"
        )
        hits = await hub.search.search(OWNER, SearchRequest(query="sourdough"))
        assert [(h.artifact.artifact_id, h.mode) for h in hits] == [(pushed.artifact_id, "hybrid")]
        with pytest.raises(SearchUnavailableError):
            await hub.search.search(OWNER, SearchRequest(query="bread", mode="semantic"))
        await hub.accounts.create_tenant(TENANT, plan="enterprise")
        _, key = await hub.accounts.create_key(TENANT, "alice")
        transport = httpx.ASGITransport(app=create_app(hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            response = await http.get(
                "/v1/search",
                params={"q": "bread", "mode": "semantic"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 501
        assert response.json()["error"]["code"] == "search_unavailable"
        async with hub.db.connect() as conn:
            from sqlalchemy import func, select

            from artifact_hub.adapters.index import tables as t

            assert await conn.scalar(select(func.count()).select_from(t.search_vectors)) == 0
