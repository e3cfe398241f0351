"""A schema-driven fuzz of the whole REST API: no 5xx, and every answer as documented.

schemathesis generates requests for every operation of the app's own OpenAPI document, valid
ones (positive) and invalid ones (negative), with a real API key and, for half of them, the id
of a fresh artifact of the key's agent, so the fuzz reaches the handlers past
``artifact_not_found``. Each answer must be below 500, carry a status the document lists for
that operation, and match the documented body and content type.

The run is derandomized (the same requests every run) and bounded: ``EXAMPLES`` examples per
operation and strategy (``ARTIFACT_HUB_FUZZ_EXAMPLES``; raise it locally to hunt for bugs, e.g.
``ARTIFACT_HUB_FUZZ_EXAMPLES=300 pytest tests/integration/test_api_fuzz.py``).
"""

from __future__ import annotations

import base64
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.integration.conftest import STACKS
from tests.integration.live_server import LiveHub, live_hub

EXAMPLES = int(os.environ.get("ARTIFACT_HUB_FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass
class Findings:
    """What the fuzz saw: statuses per operation, and each distinct failure once."""

    seen: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    failures: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, detail: str) -> None:
        """Record a failure (the first example of each kind is kept)."""
        self.failures.setdefault(what, detail)


@pytest.fixture(params=STACKS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveHub]:
    """A hub served over HTTP on the stack."""
    with live_hub(request, tmp_path, request.param) as hub:
        yield hub


def _fresh_artifact(live: LiveHub, session: requests.Session) -> str:
    """A new artifact of the owner with two versions (so version 1 is deletable)."""
    body = {"name": "seed.txt", "content_base64": base64.b64encode(b"seed").decode()}
    created = session.post(f"{live.url}/v1/artifacts", json=body, headers=live.auth())
    assert created.status_code == 201, created.text
    artifact_id: str = created.json()["id"]
    versioned = session.post(
        f"{live.url}/v1/artifacts/{artifact_id}/versions", json=body, headers=live.auth()
    )
    assert versioned.status_code == 201, versioned.text
    return artifact_id


def _first_line(error: BaseException) -> str:
    failures = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    return "; ".join(" ".join(str(getattr(f, "title", "") or f).split())[:120] for f in failures)


def _fuzz(live: LiveHub, session: requests.Session, operation: Any, findings: Findings) -> None:
    """Run the operation's strategies; record statuses and failures (none is raised)."""
    label = f"{operation.method.upper()} {operation.path}"
    names = {p.name for p in operation.path_parameters}
    known: dict[str, Any] = {"session_id": "fuzz-session", "version": 1}
    if names & {"artifact_id"}:
        known["artifact_id"] = _fresh_artifact(live, session)
    fixed = {name: value for name, value in known.items() if name in names}
    strategies = []
    for mode in MODES:
        strategies.append(operation.as_strategy(generation_mode=mode))
        if fixed:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))

    @hypothesis.settings(
        max_examples=EXAMPLES * len(strategies),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=live.url, session=session, headers=live.auth(), timeout=60)
        findings.seen[label].add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as error:
            findings.add(
                f"{label}: {response.status_code} {_first_line(error)}",
                f"{case.as_curl_command()}\n    -> {response.text[:300]}",
            )

    run()


def test_fuzz_finds_no_server_error_and_nothing_undocumented(live: LiveHub) -> None:
    """Every operation, valid and invalid inputs: no 5xx, no answer the document lacks."""
    session = requests.Session()
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    findings = Findings()
    for operation in operations:
        _fuzz(live, session, operation, findings)
    # Every route was reached, and answered only with statuses its document lists.
    assert set(findings.seen) == {f"{op.method.upper()} {op.path}" for op in operations}
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        documented = {int(code) for code in operation.definition.raw["responses"]}
        undocumented = findings.seen[label] - documented
        if undocumented:
            findings.add(f"{label}: answered {sorted(undocumented)}, not documented", "")
    report = "\n".join(f"{what}\n    {detail}" for what, detail in findings.failures.items())
    assert not findings.failures, report
