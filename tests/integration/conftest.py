"""Hubs on the two real stacks: SQLite + local folder, and PostgreSQL + S3."""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap


def stack_settings(
    request: pytest.FixtureRequest, tmp_path: Path, stack: str, **extra: Any
) -> tuple[HubSettings, Any]:
    """Settings for a stack, and a clean-up callable (drops the PostgreSQL database)."""
    if stack == "sqlite-local":
        return HubSettings(data_dir=tmp_path / "hub", default_ttl_seconds=None, **extra), None
    server = request.getfixturevalue("postgres_server")
    bucket = request.getfixturevalue("s3_bucket")
    s3 = request.getfixturevalue("s3_settings")
    name = server.create_database()
    # Distributed mode: the API refuses to start without a shared signing secret.
    extra.setdefault("signing_secret", "integration-tests-signing-secret")
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        database_url=server.url(name),
        blob_store="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3["endpoint_url"],
        s3_region=s3["region_name"],
        s3_access_key_id=s3["aws_access_key_id"],
        s3_secret_access_key=s3["aws_secret_access_key"],
        default_ttl_seconds=None,
        **extra,
    )
    return settings, lambda: server.drop_database(name)


STACKS = ["sqlite-local", pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3])]


@pytest.fixture(params=STACKS)
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hub]:
    settings, cleanup = stack_settings(request, tmp_path, request.param)
    instance = bootstrap(settings)
    await instance.start()
    try:
        yield instance
    finally:
        await stop_within(instance, 120)
        if cleanup:
            cleanup()


class _StuckSteps(logging.Handler):
    """Collects the hub's "did not stop within" reports during one stop."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "did not stop within" in record.getMessage():
            self.messages.append(record.getMessage())


async def stop_within(hub: Hub, seconds: float) -> None:
    """``hub.stop()``, failing with every task's stack if it takes longer than ``seconds``.

    A step the hub had to abandon (bounded at 30 s, so the test still passes) is reported
    as a warning with its stack: pytest's summary shows it even in a green run.
    """
    stuck = _StuckSteps()
    hub_log = logging.getLogger("artifact_hub.plugin.hub")
    hub_log.addHandler(stuck)
    try:
        await asyncio.wait_for(asyncio.shield(hub.stop()), seconds)
    except TimeoutError:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            print(f"--- {task!r}", file=out)
            task.print_stack(file=out)
        pytest.fail(f"hub.stop() took over {seconds}s; tasks:\n{out.getvalue()}")
    finally:
        hub_log.removeHandler(stuck)
    for message in stuck.messages:
        warnings.warn(f"slow hub shutdown: {message}", stacklevel=2)
