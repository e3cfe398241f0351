"""HubSettings: ARTIFACT_HUB_* environment variables, embedded-mode defaults, derived values."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from artifact_hub.core.settings import HubSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ARTIFACT_HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_mode(tmp_path: Path) -> None:
    settings = HubSettings()
    assert settings.data_dir == Path(".artifact-hub")
    assert settings.database_url is None
    assert settings.blob_store == "local"
    assert settings.blob_dir is None
    assert settings.event_bus == "inprocess"
    assert settings.topic_prefix == ""
    assert settings.run_relay is True
    assert settings.event_source == "artifact-hub"
    assert settings.default_ttl_seconds == 30 * 24 * 3600
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080


def test_resolved_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    url = HubSettings().resolved_database_url
    expected = (tmp_path / ".artifact-hub" / "index.db").resolve()
    assert url == f"sqlite:///{expected}"
    assert Path(url.removeprefix("sqlite:///")).is_absolute()


def test_resolved_blob_dir_defaults_to_data_dir_blobs(tmp_path: Path) -> None:
    blob_dir = HubSettings().resolved_blob_dir
    assert blob_dir == (tmp_path / ".artifact-hub" / "blobs").resolve()
    assert blob_dir.is_absolute()


def test_resolved_values_do_not_create_anything(tmp_path: Path) -> None:
    settings = HubSettings()
    _ = settings.resolved_database_url, settings.resolved_blob_dir
    assert list(tmp_path.iterdir()) == []


def test_default_ttl_is_thirty_days() -> None:
    assert HubSettings().default_ttl == timedelta(days=30)


def test_default_ttl_none_means_never() -> None:
    assert HubSettings(default_ttl_seconds=None).default_ttl is None


def test_default_ttl_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        HubSettings(default_ttl_seconds=0)


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_dir = tmp_path / "hubdata"
    monkeypatch.setenv("ARTIFACT_HUB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ARTIFACT_HUB_DATABASE_URL", "postgresql+asyncpg://u:p@db/hub")
    monkeypatch.setenv("ARTIFACT_HUB_BLOB_STORE", "s3")
    monkeypatch.setenv("ARTIFACT_HUB_S3_BUCKET", "bucket-x")
    monkeypatch.setenv("ARTIFACT_HUB_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("ARTIFACT_HUB_EVENT_BUS", "kafka")
    monkeypatch.setenv("ARTIFACT_HUB_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("ARTIFACT_HUB_KAFKA_IDEMPOTENT_PRODUCER", "true")
    monkeypatch.setenv("ARTIFACT_HUB_TOPIC_PREFIX", "prod.")
    monkeypatch.setenv("ARTIFACT_HUB_RUN_RELAY", "false")
    monkeypatch.setenv("ARTIFACT_HUB_RELAY_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("ARTIFACT_HUB_RELAY_BATCH_SIZE", "17")
    monkeypatch.setenv("ARTIFACT_HUB_DEFAULT_TTL_SECONDS", "3600")
    monkeypatch.setenv("ARTIFACT_HUB_PORT", "9999")
    settings = HubSettings()
    assert settings.data_dir == data_dir
    assert settings.database_url == "postgresql+asyncpg://u:p@db/hub"
    assert settings.resolved_database_url == "postgresql+asyncpg://u:p@db/hub"
    assert settings.blob_store == "s3"
    assert settings.s3_bucket == "bucket-x"
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.event_bus == "kafka"
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.kafka_idempotent_producer is True
    assert settings.topic_prefix == "prod."
    assert settings.run_relay is False
    assert settings.relay_poll_interval == 0.05
    assert settings.relay_batch_size == 17
    assert settings.default_ttl == timedelta(hours=1)
    assert settings.port == 9999


def test_env_data_dir_moves_derived_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_DATA_DIR", str(tmp_path / "d"))
    settings = HubSettings()
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'd' / 'index.db').resolve()}"
    assert settings.resolved_blob_dir == (tmp_path / "d" / "blobs").resolve()


def test_env_blob_dir_overrides_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_BLOB_DIR", str(tmp_path / "elsewhere"))
    assert HubSettings().resolved_blob_dir == (tmp_path / "elsewhere").resolve()


def test_relative_blob_dir_is_resolved(tmp_path: Path) -> None:
    assert HubSettings(blob_dir=Path("rel")).resolved_blob_dir == (tmp_path / "rel").resolve()


def test_env_var_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("artifact_hub_topic_prefix", "lower.")
    assert HubSettings().topic_prefix == "lower."


def test_unprefixed_env_vars_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_PREFIX", "nope.")
    monkeypatch.setenv("PORT", "1")
    settings = HubSettings()
    assert settings.topic_prefix == ""
    assert settings.port == 8080


def test_unknown_env_vars_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_NO_SUCH_SETTING", "x")
    assert not hasattr(HubSettings(), "no_such_setting")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARTIFACT_HUB_BLOB_STORE", "gcs"),
        ("ARTIFACT_HUB_EVENT_BUS", "rabbitmq"),
        ("ARTIFACT_HUB_PORT", "not-a-port"),
        ("ARTIFACT_HUB_DEFAULT_TTL_SECONDS", "-5"),
    ],
)
def test_invalid_env_values_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        HubSettings()


def test_keyword_arguments_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_TOPIC_PREFIX", "env.")
    assert HubSettings(topic_prefix="kw.").topic_prefix == "kw."
