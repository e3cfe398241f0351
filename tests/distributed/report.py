"""Figures per scenario of the distributed suite: measured, printed and saved, never asserted.

A test hands its :class:`ScenarioFigures` to :func:`record` (through pytest's
``record_property``, so the row travels with the test report from an xdist worker to the
controller); :func:`summarize`, called from ``pytest_terminal_summary`` in tests/conftest.py,
prints the table at the end of the session and writes it to
``tests/distributed/reports/latest.md`` (gitignored).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ScenarioFigures", "collect", "record", "summarize"]

PROPERTY = "artifact-hub-distributed-figures"
REPORTS = Path(__file__).resolve().parent / "reports"
_rows: list[dict[str, Any]] = []


@dataclass
class ScenarioFigures:
    """What one scenario measured."""

    scenario: str
    requests: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    outbox_pending: int = 0
    consumer_lag: int = 0
    notes: str = ""

    @property
    def throughput(self) -> float:
        """Requests per second over the scenario's load."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile of the latencies, in ms (0 without any)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def row(self) -> dict[str, Any]:
        """The row of the table (no raw latencies)."""
        data = asdict(self)
        del data["latencies_ms"]
        data.update(
            throughput=round(self.throughput, 1),
            p50_ms=round(self.percentile(50), 1),
            p99_ms=round(self.percentile(99), 1),
            seconds=round(self.seconds, 2),
        )
        return data


def record(record_property: Callable[[str, object], None], figures: ScenarioFigures) -> None:
    """Attach the figures to the running test's report."""
    record_property(PROPERTY, json.dumps(figures.row()))


def collect(user_properties: Sequence[tuple[str, object]]) -> None:
    """Keep the rows a test report carries (``pytest_runtest_logreport``)."""
    for name, value in user_properties:
        if name == PROPERTY and isinstance(value, str):
            _rows.append(json.loads(value))


COLUMNS = (
    ("scenario", "{:<28}"),
    ("requests", "{:>8}"),
    ("failed", "{:>7}"),
    ("throughput", "{:>11}"),
    ("p50_ms", "{:>8}"),
    ("p99_ms", "{:>8}"),
    ("outbox_pending", "{:>8}"),
    ("consumer_lag", "{:>8}"),
    ("notes", "  {}"),
)
HEADERS = {"throughput": "req/s", "outbox_pending": "outbox", "consumer_lag": "lag"}


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The rows as aligned text lines, with a header."""
    lines = ["".join(f.format(HEADERS.get(c, c)) for c, f in COLUMNS)]
    lines += ["".join(f.format(row.get(c, "")) for c, f in COLUMNS) for row in rows]
    return lines


def summarize(write_line: Callable[[str], None], section: Callable[[str], None]) -> None:
    """Print the session's table and save it (nothing when no scenario ran)."""
    if not _rows:
        return
    lines = table(_rows)
    section("distributed scenarios (measured, not asserted)")
    for line in lines:
        write_line(line)
    REPORTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    text = f"# distributed scenarios, {stamp}\n\n```\n" + "\n".join(lines) + "\n```\n"
    (REPORTS / "latest.md").write_text(text)
    (REPORTS / "latest.json").write_text(json.dumps(_rows, indent=2))
    write_line(f"(saved to {REPORTS / 'latest.md'})")
