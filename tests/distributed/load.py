"""Load for the distributed scenarios: SDK clients pushing through the balancer, with retries.

:func:`push_load` runs ``clients`` :class:`~artifact_hub.client.AsyncClient` s, each with its
own connections (so the balancer spreads them over the replicas), pushing unique artifacts
into one session until ``seconds`` have passed, while the scenario does its fault on the side.
Every push carries an ``Idempotency-Key`` (the SDK's default) and is retried on connection
errors and 5xx; a push that still fails is counted, with its error.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from artifact_hub.client import AsyncClient

__all__ = ["LoadResult", "listed", "push_load"]


@dataclass
class LoadResult:
    """What the clients saw."""

    acked: dict[str, str] = field(default_factory=dict)
    """Artifact name -> the artifact id the hub acknowledged."""
    sha256: dict[str, str] = field(default_factory=dict)
    """Artifact name -> sha256 of the bytes pushed."""
    failures: list[str] = field(default_factory=list)
    """Pushes that failed after every retry: name and error."""
    latencies_ms: list[float] = field(default_factory=list)
    """Each acknowledged push, retries included."""
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        """Pushes attempted (acknowledged or failed)."""
        return len(self.acked) + len(self.failures)


async def push_load(
    url: str,
    api_key: str,
    *,
    session_id: str,
    clients: int,
    seconds: float,
    size: int = 512,
    presigned_threshold: int | None = None,
    max_retries: int = 6,
) -> LoadResult:
    """Push unique artifacts of ``size`` random bytes from ``clients`` clients for ``seconds``.

    Args:
        url: The API (the balancer).
        api_key: The pushing tenant's key.
        session_id: The session every artifact goes to (the scenario's).
        clients: Concurrent clients.
        seconds: How long new pushes start.
        size: Bytes per artifact.
        presigned_threshold: Pushes larger than this use upload-url, PUT, complete.
        max_retries: The SDK's retries per call.
    """
    result = LoadResult()
    deadline = time.monotonic() + seconds

    async def client_loop(number: int) -> None:
        async with AsyncClient(
            api_key,
            base_url=url,
            session_id=session_id,
            max_retries=max_retries,
            retry_backoff=0.2,
            presigned_threshold=presigned_threshold,
        ) as client:
            sequence = 0
            while time.monotonic() < deadline:
                name = f"{session_id}-{number:02d}-{sequence:05d}.bin"
                sequence += 1
                data = os.urandom(size)
                started = time.perf_counter()
                try:
                    artifact = await client.push(data, filename=name)
                except Exception as exc:
                    result.failures.append(f"{name}: {exc!r}")
                    continue
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.acked[name] = artifact.artifact_id
                result.sha256[name] = artifact.sha256 or ""

    started = time.monotonic()
    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    result.seconds = time.monotonic() - started
    return result


async def listed(url: str, api_key: str, session_id: str) -> dict[str, list[tuple[str, int]]]:
    """The live artifacts the API lists in ``session_id``: name -> [(id, version), ...].

    A push acknowledged once shows as one artifact at version 1; a retried push that ran
    twice would show as two artifacts of that name, or one at version 2.
    """
    found: dict[str, list[tuple[str, int]]] = {}
    async with AsyncClient(api_key, base_url=url, max_retries=5) as client:
        async for artifact in client.list(session_id=session_id):
            found.setdefault(artifact.name, []).append((artifact.artifact_id, artifact.version))
    return found
