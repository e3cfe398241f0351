"""The benchmarks still run: tiny sizes, every metric row printed, the JSON line sane."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench_env() -> dict[str, str]:
    """This environment, with the package's source first on the path (benches run as scripts)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def run_bench(script: Path, *args: str, timeout: float) -> str:
    """Run a benchmark as a user would (its own process, this checkout's source); its stdout."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=bench_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


BENCH = ROOT / "bench" / "bench_core.py"
BENCH_API = ROOT / "bench" / "bench_api.py"

# The rows a run must print, by key (kept here on purpose: dropping a row fails the test).
ROW_KEYS = {
    "push_large",
    "pull_large_read",
    "pull_large_copy",
    "small_push_sqlite_row_txn",
    "small_push_sqlite_batch",
    "small_push_file_fsync",
    "small_push_file_fsync_row_txn",
    "projection_1_vs_row_txn",
    "projection_1_vs_batch",
    "projection_100_vs_batch",
    "projection_set_100_vs_batch",
}


def test_bench_core_runs_and_prints_every_row(tmp_path: Path) -> None:
    out = run_bench(
        BENCH,
        "--size-mib",
        "4",
        "--small-count",
        "50",
        "--events",
        "200",
        "--repeat",
        "2",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=120,
    )

    # The report's fixed parts.
    for needle in ("machine:", "nproc:", "python:", "workdir:", "page cache NOT dropped"):
        assert needle in out, needle

    report = json.loads(out.strip().splitlines()[-1])
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == ROW_KEYS
    assert report["params"] == {"size_mib": 4, "small_count": 50, "events": 200, "repeat": 2}
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
        if key.startswith(("push_large", "pull_large")):
            assert len(row["hub_samples"]) == len(row["baseline_samples"]) == 2, row
        # Every JSON row is also a line of the printed table.
        assert any(
            row["metric"] in line and row["baseline_label"] in line for line in out.splitlines()
        ), key

    # It cleaned up after itself.
    assert list(tmp_path.iterdir()) == []


API_ROW_KEYS = {
    "small_push",
    "small_push_idempotent",
    "upload_presigned",
    "upload_multipart",
    "download",
}


def test_bench_api_runs_and_prints_every_row(tmp_path: Path) -> None:
    out = run_bench(
        BENCH_API,
        "--size-mib",
        "8",
        "--count",
        "100",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=180,
    )
    for needle in ("machine:", "servers:", "uvicorn", "page cache NOT dropped"):
        assert needle in out, needle

    report = json.loads(out.strip().splitlines()[-1])
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == API_ROW_KEYS
    assert report["params"] == {"size_mib": 8, "count": 100, "concurrency": 32, "repeat": 3}
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
        assert any(
            row["metric"] in line and row["baseline_label"] in line for line in out.splitlines()
        ), key

    # Both servers stopped and the work folder is gone.
    assert list(tmp_path.iterdir()) == []


BUS_ROW_KEYS = {
    "publish_kafka",
    "consume_sqlite_vs_read",
    "consume_sqlite_vs_insert",
    "consume_postgres_vs_read",
    "consume_postgres_vs_insert",
}


def test_bench_bus_runs_and_prints_every_row(tmp_path: Path) -> None:
    # Its own Tansu broker (or KAFKA_BOOTSTRAP_SERVERS); PostgreSQL at DATABASE_URL or
    # 127.0.0.1:5432 when it answers, else the report says the PostgreSQL rows were skipped.
    out = run_bench(
        ROOT / "bench" / "bench_bus.py",
        "--events",
        "300",
        "--latency-samples",
        "20",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=300,
    )
    for needle in ("machine:", "kafka:", "postgres:", "latency:", "p50"):
        assert needle in out, needle

    report = json.loads(out.strip().splitlines()[-1])
    rows = {row["key"]: row for row in report["rows"]}
    expected = (
        BUS_ROW_KEYS if report["postgres"] else {k for k in BUS_ROW_KEYS if "postgres" not in k}
    )
    assert set(rows) == expected, out
    assert report["params"] == {"events": 300, "latency_samples": 20, "fetch_max_wait_ms": 10}
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
        assert any(
            row["metric"] in line and row["baseline_label"] in line for line in out.splitlines()
        ), key
    (latency,) = report["latency"]
    assert latency["key"] == "e2e_push_to_subscriber" and latency["samples"] == 20
    for side in ("hub", "baseline"):
        p50, p99 = latency[f"{side}_p50_ms"], latency[f"{side}_p99_ms"]
        assert math.isfinite(p50) and 0 < p50 <= p99, latency

    # The broker it started is gone with the work folder.
    assert list(tmp_path.iterdir()) == []


BENCH_WORKFLOW = ROOT / "bench" / "bench_workflow.py"
WORKFLOW_ROW_KEYS = {"chain", "chain_templated", "fanout"}


def test_bench_workflow_runs_and_prints_every_row() -> None:
    out = run_bench(
        BENCH_WORKFLOW,
        "--steps",
        "10",
        "--repeat",
        "2",
        "--json",
        timeout=120,
    )
    for needle in ("machine:", "nproc:", "python:", "runner overhead"):
        assert needle in out, needle
    report = json.loads(out.strip().splitlines()[-1])
    assert report["bench"] == "workflow"
    assert report["params"] == {"steps": 10, "repeat": 2}
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == WORKFLOW_ROW_KEYS
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
        assert len(row["hub_samples"]) == len(row["baseline_samples"]) == 2, row
        assert any(
            row["metric"] in line and row["baseline_label"] in line for line in out.splitlines()
        ), key


BENCH_STEPS = ROOT / "bench" / "bench_steps.py"
STEPS_ROW_KEYS = {"step_roundtrip", "loader_inprocess", "saver_inprocess", "lineage_chain"}


def test_bench_steps_runs_and_prints_every_row(tmp_path: Path) -> None:
    # Its own Tansu broker (or KAFKA_BOOTSTRAP_SERVERS) and an embedded hub in tmp_path.
    out = run_bench(
        BENCH_STEPS,
        "--requests",
        "5",
        "--calls",
        "5",
        "--depth",
        "3",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=180,
    )
    for needle in ("machine:", "kafka:", "p50", "lineage:"):
        assert needle in out, needle
    report = json.loads(out.strip().splitlines()[-1])
    assert report["params"] == {"requests": 5, "calls": 5, "depth": 3, "fetch_max_wait_ms": 10}
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == STEPS_ROW_KEYS
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
        assert any(
            row["metric"] in line and row["baseline_label"] in line for line in out.splitlines()
        ), key
    assert list(tmp_path.iterdir()) == []  # the broker and the hub went with the work folder


FACADE_ROW_KEYS = {
    "save_text",
    "load_bytes_by_id",
    "ingest_dir_new",
    "ingest_dir_changed",
    "as_local_dir_cold",
    "as_local_dir_warm",
}


def test_bench_facade_runs_and_prints_every_row(tmp_path: Path) -> None:
    out = run_bench(
        ROOT / "bench" / "bench_facade.py",
        "--count",
        "2",
        "--files",
        "5",
        "--changed",
        "0.2",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=120,
    )
    for needle in ("machine:", "in-process facade", "page cache NOT dropped"):
        assert needle in out, needle
    report = json.loads(out.strip().splitlines()[-1])
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == FACADE_ROW_KEYS
    assert report["params"] == {"count": 2, "files": 5, "changed": 0.2}
    for key, row in rows.items():
        for field in ("hub", "baseline", "ratio"):
            assert math.isfinite(row[field]) and row[field] > 0, (key, field, row[field])
    assert "1 files uploaded, 4 found by sha256" in out
    assert list(tmp_path.iterdir()) == []


SEARCH_ROW_KEYS = {
    f"{mode}_{backend}"
    for mode in ("structured", "lexical", "semantic", "hybrid")
    for backend in ("sqlite", "postgres")
}


def test_bench_search_runs_and_prints_every_row(tmp_path: Path) -> None:
    # PostgreSQL at DATABASE_URL or 127.0.0.1:5432 when it answers, else its rows are skipped.
    out = run_bench(
        ROOT / "bench" / "bench_search.py",
        "--size",
        "300",
        "--queries",
        "5",
        "--semantic-queries",
        "3",
        "--embedder",
        "hashing",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=180,
    )
    for needle in ("machine:", "corpus:", "latency:", "p50", "page cache NOT dropped"):
        assert needle in out, needle
    report = json.loads(out.strip().splitlines()[-1])
    rows = {row["key"]: row for row in report["latency"]}
    expected = (
        SEARCH_ROW_KEYS
        if report["postgres"]
        else {k for k in SEARCH_ROW_KEYS if not k.endswith("postgres")}
    )
    if report["pgvector"]:  # a PostgreSQL server with the extension
        expected |= {"semantic_postgres_pgvector", "semantic_postgres_pgvector_kind"}
        # Whether the plan scans the index depends on the size (300 rows: a seq scan).
        assert "the hub's semantic query plan" in out, out
        assert "recall@10 against the exact numpy scan" in out, out
    assert set(rows) == expected, out
    assert report["params"] == {
        "size": 300,
        "queries": 5,
        "semantic_queries": 3,
        "embedder": "hashing",
        "corpus_vectors": "random",
    }
    for key, row in rows.items():
        assert row["samples"] == (3 if key.startswith(("semantic", "hybrid")) else 5), key
        assert row["hits"] > 0, key  # the queries found something: the index was loaded
        for side in ("hub", "baseline"):
            p50, p99 = row[f"{side}_p50_ms"], row[f"{side}_p99_ms"]
            assert math.isfinite(p50) and 0 < p50 <= p99, (key, row)
        assert any(row["metric"] in line for line in out.splitlines()), key
    assert list(tmp_path.iterdir()) == []


PEER_ROW_KEYS = {
    "push_seq",
    "push_threads",
    "cpu_per_push",
    "list",
    "upload",
    "download",
    "transfer_rss",
    "idle_rss",
}


def test_bench_peer_runs_hub_side_without_mlflow(tmp_path: Path) -> None:
    # --no-mlflow: the hub side only (MLflow is the optional bench extra, never needed here).
    out = run_bench(
        ROOT / "bench" / "bench_peer.py",
        "--no-mlflow",
        "--rounds",
        "1",
        "--small-count",
        "20",
        "--threads",
        "4",
        "--big-mib",
        "4",
        "--skip-events",
        "--workdir",
        str(tmp_path),
        "--json",
        timeout=180,
    )
    for needle in ("machine:", "git:", "| workload | artifact-hub | MLflow | hub / MLflow |"):
        assert needle in out, needle
    report = json.loads(out.strip().splitlines()[-1])
    assert report["bench"] == "peer" and report["events"] is None
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == PEER_ROW_KEYS
    table = [line for line in out.splitlines() if line.startswith("| ")]
    for key, row in rows.items():
        assert math.isfinite(row["hub"]) and row["hub"] > 0, (key, row)
        assert len(row["hub_samples"]) == 1 and row["mlflow_samples"] == [], (key, row)
        # Its row in the main table (the first table): the hub's figure, MLflow and ratio n/a.
        line = next(line for line in table if line.startswith(f"| {row['metric']} ("))
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) > 0 and cells[2:] == ["n/a", "n/a"], line
    # The ceiling phase: both clients against the null server, which answered with the hub's
    # own replies (the SDK parsed them: it listed the 20 artifacts of the captured page).
    assert "## Ceiling" in out
    ceiling = report["ceiling"]
    for system in ("artifact-hub", "MLflow"):
        for key in ("push_seq", "push_threads", "client_cpu_per_push"):
            assert math.isfinite(ceiling[system][key]) and ceiling[system][key] > 0, (system, key)
    assert ceiling["artifact-hub"]["listed"] == 20
    # Both servers stopped and the work folder is gone.
    assert list(tmp_path.iterdir()) == []


def test_bench_console_runs_and_prints_every_page(tmp_path: Path) -> None:
    out = run_bench(
        ROOT / "bench" / "bench_console.py", "--rows", "200", "--repeat", "2", "--json", timeout=300
    )
    report = json.loads(out.strip().splitlines()[-1])
    rows = report["results"]["sqlite"]
    assert {row["key"] for row in rows} == {
        "list",
        "artifact",
        "diff",
        "lineage",
        "sessions",
        "events",
    }
    for row in rows:
        assert row["samples"] == 2
        assert math.isfinite(row["hub_p50_ms"]) and row["hub_p50_ms"] > 0
        assert math.isfinite(row["baseline_p50_ms"]) and row["baseline_p50_ms"] > 0
        assert row["metric"] in out  # the table printed it too
