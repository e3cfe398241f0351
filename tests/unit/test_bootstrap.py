"""The composition root: ``plugin/bootstrap.py`` alone builds the hub's adapters."""

from __future__ import annotations

import ast
from pathlib import Path

from artifact_hub.adapters.bus.publisher import InProcessBus
from artifact_hub.adapters.bus.signing import SigningPublisher
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.plugin.bootstrap import consumer_parts

SRC = Path(__file__).resolve().parents[2] / "src" / "artifact_hub"

ADAPTERS = {
    "Database",
    "LocalBlobStore",
    "S3BlobStore",
    "KafkaPublisher",
    "SigningPublisher",
    "InProcessBus",
    "OutboxRelay",
    "SearchIndexer",
}
"""The adapter classes a hub is built from."""

BUILDERS = {
    Path("plugin/bootstrap.py"),
    # The agent-side SDK publisher runs in an agent's process, not in the hub: it opens the
    # blob folder and the Kafka producer it was pointed at.
    Path("publisher.py"),
}


def _constructed(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in ADAPTERS:
                names.add(name)
    return names


def test_only_the_bootstrap_constructs_adapters() -> None:
    found = {}
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] == "adapters" or relative in BUILDERS:
            continue  # an adapter may build its own parts
        names = _constructed(path)
        if names:
            found[str(relative)] = sorted(names)
    assert found == {}


def test_an_embedded_hub_publishes_to_its_in_process_bus(tmp_path: Path) -> None:
    hub = bootstrap(HubSettings(data_dir=tmp_path / "hub"))
    assert isinstance(hub, Hub)
    assert isinstance(hub.bus, InProcessBus)
    assert hub.publisher is hub.bus
    assert isinstance(hub.blobs, LocalBlobStore)
    # One database behind every part.
    assert hub.indexer.db is hub.db
    assert hub.relay.db is hub.db


def test_a_distributed_hub_signs_what_it_publishes(tmp_path: Path) -> None:
    blobs = MemoryBlobStore()
    hub = bootstrap(HubSettings(data_dir=tmp_path / "hub"), blobs=blobs, event_bus="kafka")
    assert hub.bus is None
    assert isinstance(hub.publisher, SigningPublisher)
    assert hub.blobs is blobs
    assert hub.settings.event_bus == "kafka"


def test_consumer_parts_share_one_database(tmp_path: Path) -> None:
    parts = consumer_parts(HubSettings(data_dir=tmp_path / "hub"))
    assert parts.indexer.db is parts.db
    assert isinstance(parts.blobs, LocalBlobStore)
