"""The benchmarks still run: tiny sizes, every metric row printed, the JSON line sane."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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
}


def test_bench_core_runs_and_prints_every_row(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
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
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout

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
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH_API),
            "--size-mib",
            "8",
            "--count",
            "100",
            "--workdir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
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
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_bus.py"),
            "--events",
            "300",
            "--latency-samples",
            "20",
            "--workdir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
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
