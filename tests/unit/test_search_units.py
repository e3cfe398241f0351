"""Search pieces without a database: fusion, cosine top-k, embedders, requests, documents, SDK."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from artifact_hub.adapters.index.pgvector import vector_text
from artifact_hub.adapters.index.search import document_body, is_text_like
from artifact_hub.client import AsyncClient, Client
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import bootstrap
from artifact_hub.schemas.search import SearchRequest, parse_time_window
from artifact_hub.service.embedders import HashingEmbedder, build_embedder
from artifact_hub.service.search import reciprocal_rank_fusion, top_cosine

NOW = "2026-01-02T03:04:05+00:00"


# ------------------------------------------------------------------------------ fusion


def test_rrf_rewards_items_ranked_well_by_both() -> None:
    lexical = ["a", "b", "c", "d"]
    semantic = ["c", "e", "a", "f"]
    fused = reciprocal_rank_fusion([lexical, semantic], k=60)
    ids = [item for item, _ in fused]
    # a: 1/61 + 1/63, c: 1/63 + 1/61 (tie: a first, as first seen), then b (1/62), e (1/62).
    assert ids[:2] == ["a", "c"]
    assert set(ids[2:4]) == {"b", "e"}
    assert ids[2] == "b"  # ties keep first-appearance order
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)
    assert set(ids) == {"a", "b", "c", "d", "e", "f"}
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)


def test_rrf_of_one_ranking_keeps_it_and_empty_gives_nothing() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y", "z"]])] == ["x", "y", "z"]
    assert reciprocal_rank_fusion([[], []]) == []


def test_rrf_with_hashing_embedder_rankings() -> None:
    """Fusion over a lexical-like and a semantic-like ranking of a tiny corpus."""
    embedder = HashingEmbedder(dim=256)
    docs = {
        "d1": "quarterly revenue report for finance",
        "d2": "revenue forecast model",
        "d3": "team offsite photos",
    }
    vectors = np.asarray(embedder.embed_sync(list(docs.values())), dtype=np.float32)
    query = np.asarray(embedder.embed_sync(["revenue report"])[0], dtype=np.float32)
    semantic = [i for i, _ in top_cosine(vectors, query, list(docs), 3)]
    lexical = [i for i, text in docs.items() if "report" in text]
    fused = [i for i, _ in reciprocal_rank_fusion([lexical, semantic])]
    assert fused[0] == "d1"
    assert fused.index("d2") < fused.index("d3")


# ------------------------------------------------------------------------------ cosine


def test_top_cosine_matches_brute_force() -> None:
    rng = np.random.default_rng(6)
    matrix = rng.normal(size=(500, 32)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = rng.normal(size=32).astype(np.float32)
    ids = [f"id{i}" for i in range(500)]
    top = top_cosine(matrix, query, ids, 10)
    expected = np.argsort(-(matrix @ (query / np.linalg.norm(query))))[:10]
    assert [i for i, _ in top] == [ids[i] for i in expected]
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert len(top_cosine(matrix[:3], query, ids[:3], 10)) == 3
    assert top_cosine(matrix, np.zeros(32, dtype=np.float32), ids, 5) == []


# ------------------------------------------------------------------------------ embedders


async def test_hashing_embedder_is_deterministic_unit_length_and_word_based() -> None:
    embedder = HashingEmbedder(dim=64)
    first, again, other, empty = await embedder.embed(
        ["The cat sat", "the CAT sat", "dogs bark loudly", "..."]
    )
    assert first == again and len(first) == 64
    assert np.linalg.norm(first) == pytest.approx(1.0)
    assert np.dot(first, other) < np.dot(first, again)
    assert empty == [0.0] * 64
    assert HashingEmbedder(dim=64).embed_sync(["The cat sat"])[0] == first


def test_embedder_setting() -> None:
    assert build_embedder("none") is None
    hashing = build_embedder("hashing")
    assert hashing is not None and hashing.dim == 384
    minilm = build_embedder("minilm")
    assert minilm is not None and (minilm.name, minilm.dim) == ("all-MiniLM-L6-v2", 384)
    with pytest.raises(ValueError, match="unknown embedder"):
        build_embedder("word2vec")


# ------------------------------------------------------------------------------ requests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        (" 1.5 h ", timedelta(minutes=90)),
        ("P7D", timedelta(days=7)),
        ("PT24H", timedelta(hours=24)),
        (timedelta(minutes=5), timedelta(minutes=5)),
        (None, None),
    ],
)
def test_time_windows(text: Any, expected: timedelta | None) -> None:
    assert parse_time_window(text) == expected


@pytest.mark.parametrize("bad", ["soon", "24x", "-1h", "0s", "", timedelta(0)])
def test_bad_time_windows(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_time_window(bad)


def test_search_request_modes_and_validation() -> None:
    assert SearchRequest().resolved_mode == "structured"
    assert SearchRequest(query="  ").resolved_mode == "structured"
    assert SearchRequest(query="x").resolved_mode == "hybrid"
    assert SearchRequest(query="x", mode="lexical").resolved_mode == "lexical"
    assert SearchRequest(query="x", mode="structured", metric="f1").metric == "f1"
    for bad in (
        {"mode": "semantic"},
        {"mode": "fuzzy", "query": "x"},
        {"limit": 0},
        {"limit": 1001},
        {"time_window": "whenever"},
        {"query": "x", "metric": "f1"},
        {"created_after": datetime(2026, 1, 1)},  # naive
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            SearchRequest(**bad)


# ------------------------------------------------------------------------------ documents


def test_text_like_content() -> None:
    assert is_text_like("text/plain; charset=utf-8", "x")
    assert is_text_like("application/json", "x")
    assert is_text_like("application/vnd.api+json", "x")
    assert not is_text_like("application/octet-stream", "notes.txt")
    assert not is_text_like("image/png", "x")
    assert is_text_like(None, "README.md")
    assert not is_text_like(None, "model.bin")


def test_document_body_puts_fields_before_content() -> None:
    row = {
        "name": "weekly_report.md",
        "kind": "report",
        "tags": ["weekly", "final"],
        "labels": {"team": "nlp", "score": 3},
        "metadata": {"author": "Ada", "pages": 12},
    }
    body = document_body(row, "The content.")
    lines = body.splitlines()
    assert lines[:3] == ["weekly_report.md", "weekly report md", "report"]
    assert "weekly final" in lines
    assert "team nlp" in lines and "score 3" in lines
    assert "Ada" in lines and "12" in lines
    assert lines[-1] == "The content."
    assert document_body({"name": "x"}, None) == "x"


# ------------------------------------------------------------------------------ SDK


def _hit_json(artifact_id: str, score: float | None, mode: str) -> dict[str, Any]:
    return {
        "artifact": {
            "artifact_id": artifact_id,
            "tenant_id": "t1",
            "name": "a.txt",
            "created_at": NOW,
        },
        "score": score,
        "mode": mode,
    }


def _transport(seen: list[httpx.Request], body: dict[str, Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


def test_client_search_builds_the_query_and_parses_hits() -> None:
    seen: list[httpx.Request] = []
    body = {"data": [_hit_json("art_a", 2.5, "lexical"), _hit_json("art_b", None, "lexical")]}
    with Client(api_key="k", base_url="http://hub", transport=_transport(seen, body)) as client:
        hits = client.search(
            "quarterly revenue",
            mode="lexical",
            kind="report",
            tags=["weekly", "final"],
            labels={"team": "nlp", "run_id": "r1"},
            time_window=timedelta(hours=2),
            created_after=datetime(2026, 1, 1, tzinfo=UTC),
            limit=5,
        )
    assert [(h.artifact.artifact_id, h.score, h.mode) for h in hits] == [
        ("art_a", 2.5, "lexical"),
        ("art_b", None, "lexical"),
    ]
    [request] = seen
    assert request.method == "GET" and request.url.path == "/v1/search"
    params = request.url.params
    assert params["q"] == "quarterly revenue"
    assert params["mode"] == "lexical" and params["kind"] == "report"
    assert params.get_list("tag") == ["weekly", "final"]
    assert json.loads(params["labels"]) == {"team": "nlp", "run_id": "r1"}
    assert params["time_window"] == "7200s"
    assert params["created_after"] == "2026-01-01T00:00:00+00:00"
    assert params["limit"] == "5"
    assert "metric" not in params


async def test_async_client_search_structured_by_metric() -> None:
    seen: list[httpx.Request] = []
    body = {"data": [_hit_json("art_m", 0.97, "structured")]}
    async with AsyncClient(
        api_key="k", base_url="http://hub", transport=_transport(seen, body)
    ) as client:
        hits = await client.search(kind="model", metric="accuracy", metric_mode="max", limit=1)
    assert hits[0].score == 0.97 and hits[0].mode == "structured"
    params = seen[0].url.params
    assert "q" not in params
    assert (params["metric"], params["metric_mode"], params["limit"]) == ("accuracy", "max", "1")


def test_vector_text_is_exact_for_float32() -> None:
    vector = np.asarray([0.1, -1.0, 3.0e-8, 1.0 / 3.0], dtype=np.float32)
    rendered = vector_text(vector)
    assert rendered.startswith("[") and rendered.endswith("]")
    parsed = np.asarray([float(part) for part in rendered[1:-1].split(",")], dtype=np.float32)
    assert parsed.tobytes() == vector.tobytes()


async def test_pgvector_on_without_postgresql_refuses_to_start(tmp_path: Path) -> None:
    hub = bootstrap(
        HubSettings(
            data_dir=tmp_path / "hub",
            search_embedder="hashing",
            search_pgvector="on",
            sweep_enabled=False,
        )
    )
    try:
        with pytest.raises(InvalidRequestError, match="needs a PostgreSQL"):
            await hub.start()
    finally:
        await hub.stop()


async def test_pgvector_auto_on_sqlite_is_inactive(tmp_path: Path) -> None:
    hub = bootstrap(HubSettings(data_dir=tmp_path / "hub", search_embedder="hashing"))
    await hub.start()
    try:
        assert hub.indexer.pgvector is not None
        assert not hub.indexer.pgvector.writes and not hub.indexer.pgvector.ready
    finally:
        await hub.stop()


async def test_indexing_waits_for_its_delay_batches_writes_and_flush_cuts_it_short(
    tmp_path: Path,
) -> None:
    from artifact_hub.adapters.index import Database
    from artifact_hub.adapters.index.search import SearchIndexer
    from artifact_hub.adapters.storage.memory import MemoryBlobStore

    db = Database(f"sqlite:///{tmp_path / 'index.db'}")
    indexer = SearchIndexer(db, MemoryBlobStore(), None, delay=30.0)
    batches: list[list[str]] = []

    async def sync(artifact_ids: Any, embed: bool = True) -> int:
        batches.append(sorted(artifact_ids))
        return len(batches[-1])

    indexer.sync = sync  # type: ignore[method-assign]
    try:
        indexer.notify(["art_a"])
        await asyncio.sleep(0.05)
        indexer.notify(["art_b"])  # within the delay: the same sync
        await asyncio.sleep(0.05)
        assert batches == []  # still waiting
        started = asyncio.get_running_loop().time()
        await indexer.flush()  # a search: no waiting for the 30 s
        assert asyncio.get_running_loop().time() - started < 5
        assert batches == [["art_a", "art_b"]]
    finally:
        await indexer.close()
        await db.dispose()


async def test_embeddings_wait_for_a_pause_in_writes_and_a_search_embeds_what_is_pending(
    tmp_path: Path,
) -> None:
    from artifact_hub.adapters.index import Database
    from artifact_hub.adapters.index.search import SearchIndexer
    from artifact_hub.adapters.storage.memory import MemoryBlobStore
    from artifact_hub.service.embedders import HashingEmbedder

    db = Database(f"sqlite:///{tmp_path / 'index.db'}")
    indexer = SearchIndexer(db, MemoryBlobStore(), HashingEmbedder(), embed_delay=0.3)
    calls: list[tuple[list[str], bool]] = []

    async def sync(artifact_ids: Any, embed: bool = True) -> int:
        calls.append((sorted(artifact_ids), embed))
        return len(calls[-1][0])

    indexer.sync = sync  # type: ignore[method-assign]
    try:
        indexer.notify(["art_a"])
        await asyncio.sleep(0.1)
        assert calls == [(["art_a"], False)]  # the document now, its vector later
        indexer.notify(["art_b"])  # writes go on: the embedding waits
        await asyncio.sleep(0.2)
        assert calls == [(["art_a"], False), (["art_b"], False)]
        await asyncio.sleep(0.4)  # a pause: both embedded in one batch
        assert calls[2:] == [(["art_a", "art_b"], True)]
        indexer.notify(["art_c"])
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await indexer.flush()  # a search embeds what is pending without waiting for a pause
        assert asyncio.get_running_loop().time() - started < 0.25
        assert calls[3:] == [(["art_c"], False), (["art_c"], True)]
    finally:
        await indexer.close()
        await db.dispose()
