"""Search latency: structured, lexical, semantic and hybrid search over a large index.

Run from the repository root::

    PYTHONPATH=src python bench/bench_search.py [--size 100000] [--queries 100]
        [--semantic-queries 30] [--embedder minilm|hashing]
        [--postgres-url URL | --no-postgres] [--no-pgvector] [--pgvector-exact-limit N]
        [--corpus-vectors random|embedder] [--workdir DIR] [--json]

For SQLite (a file in ``--workdir``) and PostgreSQL (a fresh database on ``--postgres-url``,
default ``DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/postgres``, dropped at the
end), the bench:

1. loads ``--size`` artifacts **straight into the index tables** with batched inserts
   (``artifacts``, ``artifact_labels``, ``artifact_tags``, ``search_documents``, the FTS5 table
   on SQLite, ``search_vectors``), bypassing the service: pushing 100,000 artifacts through it
   would take most of an hour and measure the write path, not search. A tenth of the rows
   belong to another tenant, so the tenant filter has something to filter. Texts are 12-40
   words drawn (Zipf-like) from a 3,000-word vocabulary; lexical queries are 1-3 neighbouring
   words of a document, leaving out the 30 most frequent words (they occur in most documents,
   like stop words).
2. uses **random unit vectors** (dim 384) as the corpus embeddings: MiniLM needs minutes per
   10,000 texts on two cores. Queries are embedded for real with MiniLM (``--embedder
   minilm``, the default when the ``semantic`` extra is installed) and that time is part of
   the semantic and hybrid figures. The rankings are meaningless; the latencies are not.
3. times ``SearchService.search`` (the caller's tenant and ACL conditions included, limit 10)
   per mode, beside a raw baseline in the same run: a bare SQL select by primary key
   (structured), a bare FTS5 ``MATCH ... ORDER BY rank`` / ``@@ ... ORDER BY ts_rank_cd``
   (lexical), and the query embedding plus a numpy matrix product over the same vectors held
   in memory (semantic, hybrid).
4. on PostgreSQL with the pgvector extension, sets it up as a hub does at start (column,
   backfill, HNSW index) and times semantic search through pgvector, unfiltered and with a
   kind filter, beside the same baseline. A search whose filters leave at most
   ``--pgvector-exact-limit`` vectors computes every distance; more go through the HNSW index.
   It prints the set-up time, which path each row took, its recall@10 against the exact
   numpy scan, and whether the hub's unfiltered query plan scans the index.

Page caches are not dropped; the first query of each mode is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _common import Latency as _Latency
from _common import machine_facts, print_facts, print_json, print_latency, progress
from sqlalchemy import event, insert, text
from sqlalchemy.engine import URL, make_url

from artifact_hub.adapters.index import Database
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import label_value
from artifact_hub.adapters.index.search import SearchIndexer, document_body, fts_table
from artifact_hub.adapters.index.stores.search_backend import SqlSearchBackend
from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.schemas import Caller
from artifact_hub.schemas.search import SearchRequest
from artifact_hub.service.embedders import Embedder, HashingEmbedder, MiniLMEmbedder
from artifact_hub.service.search import SearchService, top_cosine

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DIM = 384
BATCH = 2000
TENANT = "bench"
CALLER = Caller(tenant_id=TENANT, agent_id="owner")
KINDS = ("model", "dataset", "report", "config", "note")
TEAMS = ("vision", "nlp", "infra", "search", "ops")
TAGS = ("weekly", "draft", "final", "baseline", "nightly")
MODES = ("structured", "lexical", "semantic", "hybrid")
COMMON_WORDS = 30


# ------------------------------------------------------------------------------ corpus


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def zipf_words(rng: random.Random, vocab: Sequence[str], count: int) -> list[str]:
    # Rank r is drawn with weight ~ 1/r: a few very common words, a long tail.
    return [vocab[min(int(rng.paretovariate(1.0)) - 1, len(vocab) - 1)] for _ in range(count)]


@dataclass
class Corpus:
    ids: list[str]
    matrix: np.ndarray[Any, Any]  # the owner tenant's vectors, in ``ids`` order
    texts: list[str]
    vocab: list[str]  # by rank: the first words are the most frequent
    owner_rows: list[int] = field(default_factory=list)


def build_rows(size: int, seed: int = 6) -> tuple[dict[str, list[dict[str, Any]]], Corpus]:
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    rows: dict[str, list[dict[str, Any]]] = {
        "artifacts": [],
        "labels": [],
        "tags": [],
        "documents": [],
        "vectors": [],
    }
    vectors = nprng.normal(size=(size, DIM)).astype("<f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    owner_ids: list[str] = []
    owner_rows: list[int] = []
    texts: list[str] = []
    for i in range(size):
        artifact_id = f"art_{i:016d}"
        tenant = "other" if i % 10 == 9 else TENANT
        kind = KINDS[i % len(KINDS)]
        labels = {"team": TEAMS[rng.randrange(len(TEAMS))], "shard": str(i % 50)}
        tags = sorted(rng.sample(TAGS, rng.randint(0, 2)))
        content = " ".join(zipf_words(rng, vocab, rng.randint(12, 40)))
        created = base + timedelta(seconds=i)
        row = {
            "artifact_id": artifact_id,
            "tenant_id": tenant,
            "namespace": "default",
            "name": f"{kind}-{i}.txt",
            "agent_id": "owner",
            "session_id": None,
            "kind": kind,
            "content_type": "text/plain",
            "version": 1,
            "sha256": f"{i:064x}",
            "size_bytes": len(content),
            "metadata": {},
            "labels": labels,
            "tags": tags,
            "metrics": {"accuracy": round(rng.random(), 4)},
            "pinned": False,
            "run_id": f"run-{i % 100}",
            "created_at": created,
            "updated_at": created,
            "revision": 1,
        }
        rows["artifacts"].append(row)
        for key, value in labels.items():
            rows["labels"].append(
                {
                    "artifact_id": artifact_id,
                    "source": "label",
                    "key": key,
                    "value": label_value(value),
                }
            )
        rows["tags"] += [{"artifact_id": artifact_id, "tag": tag} for tag in tags]
        body = document_body(row, content)
        rows["documents"].append(
            {
                "artifact_id": artifact_id,
                "tenant_id": tenant,
                "revision": 1,
                "version": 1,
                "body": body,
                "body_sha256": f"{i:064x}",
                "indexed_at": created,
            }
        )
        rows["vectors"].append(
            {
                "artifact_id": artifact_id,
                "model": "",  # set per embedder
                "tenant_id": tenant,
                "dim": DIM,
                "body_sha256": f"{i:064x}",
                "vector": vectors[i].tobytes(),
            }
        )
        if tenant == TENANT:
            owner_ids.append(artifact_id)
            owner_rows.append(i)
            texts.append(content)
    corpus = Corpus(
        ids=owner_ids,
        matrix=np.ascontiguousarray(vectors[owner_rows]),
        texts=texts,
        vocab=list(vocab),
    )
    corpus.owner_rows = owner_rows
    return rows, corpus


async def embed_corpus(
    rows: dict[str, list[dict[str, Any]]], corpus: Corpus, embedder: Embedder
) -> None:
    """Replace the random vectors by the documents' own embeddings (``--corpus-vectors``)."""
    bodies = [row["body"] for row in rows["documents"]]
    vectors = np.zeros((len(bodies), DIM), dtype="<f4")
    for start in range(0, len(bodies), 256):
        chunk = await embedder.embed(bodies[start : start + 256])
        vectors[start : start + len(chunk)] = np.asarray(chunk, dtype="<f4")
    for index, row in enumerate(rows["vectors"]):
        row["vector"] = vectors[index].tobytes()
    corpus.matrix = np.ascontiguousarray(vectors[corpus.owner_rows])


async def load(db: Database, rows: dict[str, list[dict[str, Any]]], model: str) -> float:
    started = time.perf_counter()
    for row in rows["vectors"]:
        row["model"] = model
    plan: list[tuple[Any, list[dict[str, Any]]]] = [
        (t.artifacts, rows["artifacts"]),
        (t.artifact_labels, rows["labels"]),
        (t.artifact_tags, rows["tags"]),
        (t.search_documents, rows["documents"]),
        (t.search_vectors, rows["vectors"]),
    ]
    if db.dialect == "sqlite":
        fts = [{"artifact_id": r["artifact_id"], "body": r["body"]} for r in rows["documents"]]
        plan.append((fts_table, fts))
    for table, items in plan:
        for start in range(0, len(items), BATCH):
            async with db.begin() as conn:
                await conn.execute(insert(table), items[start : start + BATCH])
    async with db.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


# ------------------------------------------------------------------------------ queries


@dataclass
class Latency(_Latency):
    hits: int = 0


async def timed(samples: list[float], call: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await call()
    samples.append((time.perf_counter() - started) * 1000)
    return result


def query_words(rng: random.Random, corpus: Corpus, common: frozenset[str]) -> str:
    """1-3 neighbouring words of a document, skipping the vocabulary's most frequent words.

    Those (the Zipf head) occur in most documents, like stop words: a query of them alone
    would time ranking every document, which full-text engines leave out of their index.
    """
    while True:
        words = [word for word in rng.choice(corpus.texts).split() if word not in common]
        if words:
            break
    start = rng.randrange(max(1, len(words) - 2))
    return " ".join(words[start : start + rng.randint(1, 3)])


async def measure(
    backend: str,
    db: Database,
    corpus: Corpus,
    embedder: Embedder,
    queries: int,
    semantic_queries: int,
) -> list[Latency]:
    indexer = SearchIndexer(db, MemoryBlobStore(), embedder)
    service = SearchService(db, SqlSearchBackend(indexer.pgvector), indexer, embedder)
    rng = random.Random(7)
    # The same queries run on each backend: without this, the second would find every
    # query's embedding cached and time numpy alone.
    if isinstance(embedder, MiniLMEmbedder):
        embedder.clear_cache()
    common = frozenset(corpus.vocab[:COMMON_WORDS])
    results: list[Latency] = []

    # structured: kind + tag + label, newest first; baseline: one row by primary key.
    lat = Latency(
        f"structured_{backend}",
        f"{backend}: structured (kind+tag+label)",
        "bare SELECT by primary key",
    )
    for n in range(queries + 1):
        request = SearchRequest(
            kind=rng.choice(KINDS),
            tags=[rng.choice(TAGS)],
            labels={"team": rng.choice(TEAMS)},
            limit=10,
        )
        samples: list[float] = [] if n == 0 else lat.hub_ms
        hits = await timed(samples, lambda r=request: service.search(CALLER, r))
        lat.hits += len(hits)
        pk = rng.choice(corpus.ids)

        async def by_key(pk: str = pk) -> Any:
            async with db.connect() as conn:
                return (
                    await conn.execute(
                        text("SELECT * FROM artifacts WHERE artifact_id = :id"), {"id": pk}
                    )
                ).first()

        await timed([] if n == 0 else lat.baseline_ms, by_key)
    results.append(lat)

    # lexical: 1-3 words of a document; baseline: the bare full-text query.
    lat = Latency(
        f"lexical_{backend}",
        f"{backend}: lexical (BM25/ts_rank_cd, ACL)",
        "bare FTS5 MATCH" if backend == "sqlite" else "bare tsvector @@ + ts_rank_cd",
    )
    for n in range(queries + 1):
        words = query_words(rng, corpus, common)
        request = SearchRequest(query=words, mode="lexical", limit=10)
        hits = await timed(
            [] if n == 0 else lat.hub_ms, lambda r=request: service.search(CALLER, r)
        )
        lat.hits += len(hits)

        async def bare(words: str = words) -> Any:
            async with db.connect() as conn:
                if backend == "sqlite":
                    match = " OR ".join(f'"{w}"' for w in words.split())
                    sql = (
                        "SELECT artifact_id FROM search_fts WHERE search_fts MATCH :q "
                        "ORDER BY rank LIMIT 10"
                    )
                    return (await conn.execute(text(sql), {"q": match})).all()
                sql = (
                    "SELECT artifact_id FROM search_documents "
                    "WHERE body_tsv @@ plainto_tsquery('english', :q) "
                    "ORDER BY ts_rank_cd(body_tsv, plainto_tsquery('english', :q)) DESC LIMIT 10"
                )
                return (await conn.execute(text(sql), {"q": words})).all()

        await timed([] if n == 0 else lat.baseline_ms, bare)
    results.append(lat)

    # semantic and hybrid: query embedded for real; baseline: embedding + in-memory matmul.
    for mode in ("semantic", "hybrid"):
        lat = Latency(
            f"{mode}_{backend}",
            f"{backend}: {mode} ({embedder.name} query)",
            "embed query + numpy matmul (in memory)",
        )
        for n in range(semantic_queries + 1):
            words = " ".join(query_words(rng, corpus, common) for _ in range(3))
            request = SearchRequest(query=words, mode=mode, limit=10)  # type: ignore[arg-type]
            hits = await timed(
                [] if n == 0 else lat.hub_ms, lambda r=request: service.search(CALLER, r)
            )
            lat.hits += len(hits)
            other = words + f" {n}"  # not in the embedder's cache

            async def brute(other: str = other) -> Any:
                [vector] = await embedder.embed([other])
                query = np.asarray(vector, dtype=np.float32)
                return top_cosine(corpus.matrix, query, corpus.ids, 10)

            await timed([] if n == 0 else lat.baseline_ms, brute)
        results.append(lat)
    return results


async def measure_pgvector(
    db: Database,
    corpus: Corpus,
    embedder: Embedder,
    queries: int,
    notes: list[str],
    exact_limit: int,
) -> list[Latency]:
    """Semantic search through pgvector, beside the same numpy baseline.

    Sets pgvector up as a hub does at start (column, backfill, index build), reports how
    long that took, the plan of the hub's query, and the recall@10 of the index against
    the exact answer (random vectors are the hard case for HNSW).
    """
    indexer = SearchIndexer(
        db, MemoryBlobStore(), embedder, pgvector="on", pgvector_exact_limit=exact_limit
    )
    started = time.perf_counter()
    await indexer.prepare()
    assert indexer.pgvector is not None
    await indexer.pgvector.finish()
    notes.append(
        f"postgres: pgvector {indexer.pgvector.version}: column backfilled and HNSW index "
        f"built (m=16, ef_construction=64) in {time.perf_counter() - started:.1f} s"
    )
    backend = SqlSearchBackend(indexer.pgvector)
    service = SearchService(db, backend, indexer, embedder)
    exact = SearchService(db, backend, indexer, embedder, use_pgvector=False)
    rng = random.Random(11)
    common = frozenset(corpus.vocab[:COMMON_WORDS])
    results: list[Latency] = []
    for label, fields in (
        ("semantic_postgres_pgvector", {}),
        ("semantic_postgres_pgvector_kind", {"kind": "report"}),
    ):
        what = "semantic via pgvector" + (" + kind filter" if fields else "")
        lat = Latency(label, f"postgres: {what}", "embed query + numpy matmul (in memory)")
        found = expected = 0
        for n in range(queries + 1):
            words = " ".join(query_words(rng, corpus, common) for _ in range(3))
            request = SearchRequest(query=words, mode="semantic", limit=10, **fields)
            hits = await timed(
                [] if n == 0 else lat.hub_ms, lambda r=request: service.search(CALLER, r)
            )
            lat.hits += len(hits)
            truth = await exact.search(CALLER, request)
            found += len(
                {h.artifact.artifact_id for h in hits} & {h.artifact.artifact_id for h in truth}
            )
            expected += len(truth)
            other = words + f" {n}"

            async def brute(other: str = other) -> Any:
                [vector] = await embedder.embed([other])
                return top_cosine(
                    corpus.matrix, np.asarray(vector, dtype=np.float32), corpus.ids, 10
                )

            await timed([] if n == 0 else lat.baseline_ms, brute)
        visible = sum(
            1 for i in corpus.owner_rows if not fields or KINDS[i % len(KINDS)] == fields["kind"]
        )
        share = visible / max(1, len(corpus.ids) * 10 // 9)  # the owner holds 90% of all
        by_scan = visible <= exact_limit or share < indexer.pgvector.hnsw_min_share
        path = "exact distances" if by_scan else "HNSW index"
        notes.append(
            f"postgres: {what}: {visible} vectors pass the filters -> {path}; recall@10 "
            f"against the exact numpy scan {found / max(expected, 1):.3f}"
        )
        results.append(lat)
    # The plan of the hub's own statement, as sent (tenant and ACL conditions included).
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "<=>" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await service.search(CALLER, SearchRequest(query="plan", mode="semantic", limit=10))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = sent[0]
    async with db.begin() as conn:
        await conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = strict_order")
        plan = (await conn.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
    uses = [row[0].strip() for row in plan if "ix_search_vectors_hnsw_" in row[0]]
    notes.append(
        "postgres: the hub's semantic query plan "
        + (f"scans the HNSW index ({uses[0]})" if uses else "does NOT use the HNSW index")
    )
    return results


# ------------------------------------------------------------------------------ output


# ------------------------------------------------------------------------------ main


async def _offers_pgvector(db: Database) -> bool:
    async with db.connect() as conn:
        found = await conn.scalar(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        )
    return found is not None


def pick_embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingEmbedder(DIM)
    embedder = MiniLMEmbedder()
    embedder.load()
    return embedder


async def run(args: argparse.Namespace, workdir: Path, notes: list[str]) -> dict[str, Any]:
    progress(f"building {args.size} rows")
    rows, corpus = build_rows(args.size)
    progress(f"loading the query embedder ({args.embedder})")
    started = time.perf_counter()
    embedder = pick_embedder(args.embedder)
    notes.append(f"query embedder {embedder.name} loaded in {time.perf_counter() - started:.1f} s")
    if args.corpus_vectors == "embedder":
        progress(f"embedding the {args.size} documents with {embedder.name}")
        started = time.perf_counter()
        await embed_corpus(rows, corpus, embedder)
        notes.append(
            f"corpus vectors: the documents' own {embedder.name} embeddings "
            f"(computed in {time.perf_counter() - started:.1f} s)"
        )
    else:
        notes.append(
            "corpus vectors: random unit vectors (rankings meaningless, HNSW's worst case)"
        )
    latencies: list[Latency] = []
    loads: dict[str, float] = {}

    progress("SQLite: load")
    sqlite_db = Database(f"sqlite:///{workdir / 'search.db'}")
    try:
        await sqlite_db.migrate()
        loads["sqlite"] = await load(sqlite_db, rows, embedder.name)
        progress(f"SQLite: loaded in {loads['sqlite']:.1f} s; querying")
        latencies += await measure(
            "sqlite", sqlite_db, corpus, embedder, args.queries, args.semantic_queries
        )
    finally:
        await sqlite_db.dispose()

    postgres_url: URL | None = None if args.no_postgres else make_url(args.postgres_url)
    if postgres_url is not None:
        database = f"ah_bench_search_{secrets.token_hex(4)}"
        admin = postgres_url.set(drivername="postgresql+asyncpg")
        admin_db = Database(admin)
        try:
            async with admin_db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
        except Exception as exc:
            notes.append(f"PostgreSQL rows skipped: cannot create a database ({exc!r})")
            postgres_url = None
        if postgres_url is not None:
            pg_db = Database(admin.set(database=database))
            try:
                await pg_db.migrate()
                progress("PostgreSQL: load")
                loads["postgres"] = await load(pg_db, rows, embedder.name)
                progress(f"PostgreSQL: loaded in {loads['postgres']:.1f} s; querying")
                latencies += await measure(
                    "postgres", pg_db, corpus, embedder, args.queries, args.semantic_queries
                )
                if not args.no_pgvector and await _offers_pgvector(pg_db):
                    progress("PostgreSQL: pgvector set-up and queries")
                    latencies += await measure_pgvector(
                        pg_db,
                        corpus,
                        embedder,
                        args.semantic_queries,
                        notes,
                        args.pgvector_exact_limit,
                    )
                elif not args.no_pgvector:
                    notes.append("postgres: pgvector rows skipped: the server has no pgvector")
            finally:
                await pg_db.dispose()
                async with admin_db.engine.connect() as conn:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await admin_db.dispose()
    for backend, seconds in loads.items():
        notes.append(
            f"{backend}: {args.size} rows loaded (bypassing the service) in {seconds:.1f} s"
        )
    return {
        "latency": latencies,
        "postgres": postgres_url is not None,
        "pgvector": any(row.key.startswith("semantic_postgres_pgvector") for row in latencies),
        "loads": loads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="artifacts in the index")
    parser.add_argument("--queries", type=int, default=100, help="structured/lexical queries")
    parser.add_argument("--semantic-queries", type=int, default=30)
    # find_spec, not import: importing torch takes seconds, even for --embedder hashing.
    has_model = importlib.util.find_spec("sentence_transformers") is not None
    default_embedder = "minilm" if has_model else "hashing"
    parser.add_argument("--embedder", choices=("minilm", "hashing"), default=default_embedder)
    parser.add_argument("--postgres-url", default=os.environ.get("DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--corpus-vectors",
        choices=("random", "embedder"),
        default="random",
        help="corpus embeddings: random unit vectors (fast; HNSW's worst case: no "
        "neighbourhoods) or the documents' own embeddings by --embedder (MiniLM: minutes "
        "per 10,000 documents on two cores)",
    )
    parser.add_argument(
        "--no-pgvector", action="store_true", help="skip the pgvector rows on PostgreSQL"
    )
    parser.add_argument(
        "--pgvector-exact-limit",
        type=int,
        default=10_000,
        help="as ARTIFACT_HUB_SEARCH_PGVECTOR_EXACT_LIMIT (0: always the HNSW index)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.workdir))
    notes: list[str] = []
    try:
        facts = machine_facts(workdir)
        result = asyncio.run(run(args, workdir, notes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_facts(facts)
    print(
        f"corpus: {args.size} artifacts (90% in the searched tenant), limit 10, "
        f"{args.queries} structured/lexical and {args.semantic_queries} semantic/hybrid queries "
        "per backend; page cache NOT dropped"
    )
    print(f"postgres: {'measured' if result['postgres'] else 'skipped'}")
    print(f"pgvector: {'measured' if result['pgvector'] else 'skipped'}")
    print("latency:")
    print_latency(result["latency"])
    for note in notes:
        print(f"note: {note}")
    if args.json:
        print_json(
            {
                "facts": facts,
                "params": {
                    "size": args.size,
                    "queries": args.queries,
                    "semantic_queries": args.semantic_queries,
                    "embedder": args.embedder,
                    "corpus_vectors": args.corpus_vectors,
                },
                "postgres": result["postgres"],
                "pgvector": result["pgvector"],
                "loads": result["loads"],
                "latency": [row.as_dict() for row in result["latency"]],
                "notes": notes,
            }
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
