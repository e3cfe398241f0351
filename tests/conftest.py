"""Session fixtures for the real services, service markers, and a per-service summary.

Fixtures (all session-scoped unless noted):

- ``kafka_broker``: a :class:`~tests.services.KafkaBroker` with ``.bootstrap_servers``,
  ``.stop()``, ``.start()`` (and ``astop()``/``astart()``), ``.can_restart``.
- ``restartable_kafka_broker`` (function): the same broker, skipped unless it can restart;
  makes sure it is running again after the test.
- ``kafka_bootstrap_servers``: ``"host:port"``.
- ``postgres_server``: a :class:`~tests.services.PostgresServer` (``create_database()``,
  ``drop_database()``, ``url(name)``) for tests that need more than one database.
- ``postgres_url``: ``postgresql+asyncpg://...`` of a database created for this session.
- ``s3_endpoint_url``, ``s3_settings`` (boto3 client kwargs), ``s3_bucket`` (function: a fresh
  bucket name).

A service that cannot be found skips the tests that need it, or fails them when
``ARTIFACT_HUB_REQUIRE_SERVICES=1``. Tests that use a service fixture, directly or through
other fixtures, get its marker (``kafka``, ``postgres``, ``s3``) automatically.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Hubs in tests index with the model-free hashing embedder unless a test asks for MiniLM (the
# search tests do, with one model load per session): embedding every push of the suite with
# MiniLM would cost minutes of CPU for nothing the other tests check.
os.environ.setdefault("ARTIFACT_HUB_SEARCH_EMBEDDER", "hashing")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.distributed import report as distributed_report  # noqa: E402
from tests.services import (  # noqa: E402
    KafkaBroker,
    PostgresServer,
    S3Server,
    ServiceUnavailable,
    TansuBroker,
    find_kafka,
    find_postgres,
    find_s3,
    unavailable,
)

SERVICE_FIXTURES: dict[str, frozenset[str]] = {
    "postgres": frozenset({"postgres_server", "postgres_url"}),
    "s3": frozenset({"s3_server", "s3_endpoint_url", "s3_settings", "s3_bucket"}),
    "kafka": frozenset({"kafka_broker", "restartable_kafka_broker", "kafka_bootstrap_servers"}),
}
NO_SERVICE = "no service"
T = TypeVar("T")

_outcomes_key = pytest.StashKey[dict[str, str]]()
_services_key = pytest.StashKey[dict[str, set[str]]]()
_sources_key = pytest.StashKey[dict[str, str]]()


# ------------------------------------------------------------------------------ fixtures


def _record_source(request: pytest.FixtureRequest, service: str, description: str) -> None:
    request.config.stash.setdefault(_sources_key, {})[service] = description


def _find(request: pytest.FixtureRequest, service: str, finder: Callable[[], T]) -> T:
    try:
        return finder()
    except ServiceUnavailable as exc:
        reason = str(exc)
    # outside the except block, so a skip or failure does not drag the traceback along
    _record_source(request, service, f"unavailable: {reason}")
    unavailable(reason)


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[KafkaBroker]:
    broker = _find(request, "kafka", find_kafka)
    _record_source(request, "kafka", f"{broker.source} at {broker.bootstrap_servers}")
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def restartable_kafka_broker(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    if not kafka_broker.can_restart:
        pytest.skip(f"the Kafka broker from {kafka_broker.source} cannot be stopped and started")
    yield kafka_broker
    if isinstance(kafka_broker, TansuBroker) and not kafka_broker.running:
        kafka_broker.start()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    server = _find(request, "postgres", find_postgres)
    _record_source(request, "postgres", f"{server.source} ({server.host}:{server.port})")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    try:
        name = postgres_server.create_database()
    except Exception as exc:
        unavailable(f"cannot create a test database on {postgres_server.source}: {exc!r}")
    sources = request.config.stash.setdefault(_sources_key, {})
    sources["postgres"] = sources.get("postgres", postgres_server.source) + f", database {name}"
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    server = _find(request, "s3", find_s3)
    _record_source(request, "s3", f"{server.source} at {server.endpoint_url}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3_endpoint_url(s3_server: S3Server) -> str:
    return s3_server.endpoint_url


@pytest.fixture(scope="session")
def s3_settings(s3_server: S3Server) -> dict[str, Any]:
    return s3_server.settings()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    name = s3_server.create_bucket()
    yield name
    with contextlib.suppress(Exception):
        client = s3_server.client()
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                client.delete_objects(Bucket=name, Delete={"Objects": doomed})
        client.delete_bucket(Bucket=name)


# --------------------------------------------------------------------------------- hooks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixturenames = set(getattr(item, "fixturenames", ()))
        for marker, names in SERVICE_FIXTURES.items():
            if fixturenames & names and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


_CONFIG: list[pytest.Config] = []
_SOURCE_PROPERTY = "artifact-hub-service-source"


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG[:] = [config]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    # What each service ran against travels with the reports: under pytest-xdist the workers
    # start the services and the controller, which has no fixtures, prints the summary.
    if call.when != "teardown":
        return
    sources = item.config.stash.get(_sources_key, {})
    item.user_properties.extend((_SOURCE_PROPERTY, (k, v)) for k, v in sources.items())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":  # the figures ride on each phase's report: take one
        distributed_report.collect(report.user_properties)
    if not _CONFIG:
        return
    stash = _CONFIG[0].stash
    outcomes = stash.setdefault(_outcomes_key, {})
    # Markers (added above, on the worker) arrive as keywords of the report.
    services = stash.setdefault(_services_key, {})
    services[report.nodeid] = {m for m in SERVICE_FIXTURES if m in report.keywords}
    sources = stash.setdefault(_sources_key, {})
    for name, value in report.user_properties:
        if name == _SOURCE_PROPERTY:
            service, description = value
            sources.setdefault(service, description)
    current = outcomes.get(report.nodeid)
    if report.failed:
        outcomes[report.nodeid] = "failed"
    elif report.skipped and current != "failed":
        outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed and current is None:
        outcomes[report.nodeid] = "passed"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    distributed_report.summarize(terminalreporter.write_line, terminalreporter.section)
    outcomes = config.stash.get(_outcomes_key, {})
    if not outcomes:
        return
    services = config.stash.get(_services_key, {})
    sources = config.stash.get(_sources_key, {})
    rows = [*SERVICE_FIXTURES, NO_SERVICE]
    counts = {row: {"passed": 0, "failed": 0, "skipped": 0} for row in rows}
    for nodeid, outcome in outcomes.items():
        for row in sorted(services.get(nodeid) or {NO_SERVICE}):
            counts[row][outcome] += 1
    terminalreporter.section("tests per service")
    terminalreporter.write_line(f"{'service':<12}{'passed':>8}{'failed':>8}{'skipped':>9}  against")
    for row in rows:
        c = counts[row]
        against = "-" if row == NO_SERVICE else sources.get(row, "not used")
        terminalreporter.write_line(
            f"{row:<12}{c['passed']:>8}{c['failed']:>8}{c['skipped']:>9}  {against}"
        )
