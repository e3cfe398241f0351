"""Shared helpers of the benchmarks: machine facts, timing, and the result table.

Every bench script prints each artifact-hub figure beside a raw baseline measured in the same
run on the same machine; the figures are only comparable within one run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Row",
    "Stopwatch",
    "machine_facts",
    "print_facts",
    "print_json",
    "print_table",
    "progress",
    "stopwatch",
]


@dataclass(frozen=True)
class Row:
    """One line of the result table: a hub figure beside its baseline, both rates.

    Every figure is a rate (higher is better), so ``ratio`` = hub / baseline: 0.5 means the
    hub reaches half of what the raw baseline does on this machine.
    """

    key: str
    metric: str
    unit: str
    hub: float
    baseline_label: str
    baseline: float
    hub_samples: tuple[float, ...] = ()
    baseline_samples: tuple[float, ...] = ()

    @property
    def ratio(self) -> float:
        return self.hub / self.baseline if self.baseline > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Stopwatch:
    """Seconds between entering and leaving a :func:`stopwatch` block."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time a block with ``time.perf_counter``."""
    watch = Stopwatch(_start=time.perf_counter())
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - watch._start


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the report)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return None


def _mount_of(path: Path) -> tuple[str, str, str]:
    """(device, mount point, file system type) of the longest mount containing ``path``."""
    best = ("unknown", "unknown", "unknown")
    best_len = -1
    target = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        source, mount, fstype = parts[0], parts[1].replace("\\040", " "), parts[2]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > best_len:
            best, best_len = (source, mount, fstype), len(mount)
    return best


def _rotational(device: str) -> str:
    name = Path(device).name
    while name:
        flag = _read(f"/sys/block/{name}/queue/rotational").strip()
        if flag:
            return f"sysfs rotational={flag}"  # virtual disks often say 1 whatever backs them
        name = name[:-1]  # vda1 -> vda, nvme0n1p1 -> ... -> nvme0n1
    return "sysfs rotational=?"


def machine_facts(workdir: Path) -> dict[str, Any]:
    """What the figures were measured on."""
    device, mount, fstype = _mount_of(workdir)
    usage = shutil.disk_usage(workdir)
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = None
    memory = _memory_gib()
    try:
        import sqlalchemy

        sqlalchemy_version = sqlalchemy.__version__
    except ImportError:  # pragma: no cover - a dependency of the project
        sqlalchemy_version = "missing"
    return {
        "nproc": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_model": _cpu_model(),
        "memory_gib": None if memory is None else round(memory, 1),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy_version,
        "workdir": str(workdir),
        "disk_device": device,
        "disk_mount": mount,
        "disk_fstype": fstype,
        "disk_kind": _rotational(device),
        "disk_free_gib": round(usage.free / 1024**3, 1),
    }


def print_facts(facts: dict[str, Any]) -> None:
    """The machine block of the report."""
    memory = facts["memory_gib"]
    print("machine:")
    print(f"  nproc:   {facts['nproc']} (affinity {facts['cpu_affinity']}), {facts['cpu_model']}")
    print(f"  memory:  {memory if memory is not None else '?'} GiB")
    print(f"  os:      {facts['os']}")
    print(
        f"  python:  {facts['python']}, sqlite {facts['sqlite']}, SQLAlchemy {facts['sqlalchemy']}"
    )
    print(
        f"  workdir: {facts['workdir']} on {facts['disk_device']} ({facts['disk_fstype']}, "
        f"{facts['disk_kind']}, mounted at {facts['disk_mount']}), "
        f"{facts['disk_free_gib']} GiB free"
    )


# ------------------------------------------------------------------------------ output


def _figure(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _ratio(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{value:.2g}x (1/{1 / value:,.0f})"


def print_table(rows: list[Row]) -> None:
    """The result table: metric, hub figure, baseline and its figure, ratio."""
    header = ("metric", "unit", "artifact-hub", "baseline", "baseline fig.", "ratio")
    cells = [
        (r.metric, r.unit, _figure(r.hub), r.baseline_label, _figure(r.baseline), _ratio(r.ratio))
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = {2, 4, 5}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for cell in cells:
        print(line(cell))


def print_json(payload: dict[str, Any]) -> None:
    """One JSON line with everything (for machines)."""
    print(json.dumps(payload, sort_keys=True, default=str))


@dataclass
class Latency:
    key: str
    metric: str
    baseline_label: str
    hub_ms: list[float] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)

    @staticmethod
    def quantile(samples: list[float], q: float) -> float:
        if not samples:
            return float("nan")
        ordered = sorted(samples)  # nearest rank
        return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]

    def as_dict(self) -> dict[str, Any]:
        summary = {
            f"{side}_{name}": self.quantile(samples, q)
            for side, samples in (("hub", self.hub_ms), ("baseline", self.baseline_ms))
            for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99))
        }
        hub_mean = statistics.fmean(self.hub_ms) if self.hub_ms else float("nan")
        base_mean = statistics.fmean(self.baseline_ms) if self.baseline_ms else float("nan")
        return {
            **{k: v for k, v in asdict(self).items() if not k.endswith("_ms")},
            **summary,
            "hub_mean_ms": hub_mean,
            "baseline_mean_ms": base_mean,
            "samples": len(self.hub_ms),
        }


def print_latency(rows: list[Latency]) -> None:
    header = ("metric", "a-h p50 ms", "a-h p99 ms", "baseline", "base p50", "base p99", "p50 x")
    cells = []
    for row in rows:
        d = row.as_dict()
        ratio = d["hub_p50_ms"] / d["baseline_p50_ms"] if d["baseline_p50_ms"] > 0 else float("nan")
        cells.append(
            (
                row.metric,
                f"{d['hub_p50_ms']:.2f}",
                f"{d['hub_p99_ms']:.2f}",
                row.baseline_label,
                f"{d['baseline_p50_ms']:.2f}",
                f"{d['baseline_p99_ms']:.2f}",
                f"{ratio:.1f}x",
            )
        )
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = {1, 2, 4, 5, 6}

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for cell in cells:
        print(line(cell))
