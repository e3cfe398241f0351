"""Client configuration: explicit arguments, then ARTIFACT_HUB_* env, then config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from artifact_hub.client import AsyncClient, Client
from artifact_hub.client._base import DEFAULT_URL, resolve_config, session_new
from artifact_hub.core.errors import InvalidRequestError

ENV = ("ARTIFACT_HUB_API_KEY", "ARTIFACT_HUB_URL", "ARTIFACT_HUB_API_URL")
ENV += ("ARTIFACT_HUB_SESSION_ID", "ARTIFACT_HUB_AGENT_ID")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _write_config(home: Path, text: str) -> None:
    folder = home / ".config" / "artifact-hub"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(text)


def test_defaults_without_env_or_file(home: Path) -> None:
    client = Client()
    assert client.config.api_key is None
    assert client.base_url == DEFAULT_URL
    assert client.session_id is None and client.agent_id is None


def test_config_file_is_read(home: Path) -> None:
    _write_config(
        home,
        'api_key = "ak_live_file"\nurl = "http://file:1/"\n'
        'session_id = "ses_file"\nagent_id = "agent_file"\n',
    )
    cfg = Client().config
    assert (cfg.api_key, cfg.base_url, cfg.session_id, cfg.agent_id) == (
        "ak_live_file",
        "http://file:1",
        "ses_file",
        "agent_file",
    )


def test_env_beats_file_and_explicit_beats_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(home, 'api_key = "ak_live_file"\nurl = "http://file:1"\nagent_id = "a_file"\n')
    monkeypatch.setenv("ARTIFACT_HUB_API_KEY", "ak_live_env")
    monkeypatch.setenv("ARTIFACT_HUB_SESSION_ID", "ses_env")
    cfg = Client().config
    assert cfg.api_key == "ak_live_env"
    assert cfg.base_url == "http://file:1"  # not in env: from the file
    assert cfg.session_id == "ses_env"
    assert cfg.agent_id == "a_file"
    monkeypatch.setenv("ARTIFACT_HUB_URL", "http://env:2")
    explicit = AsyncClient(api_key="ak_live_arg", session_id="ses_arg").config
    assert explicit.api_key == "ak_live_arg"
    assert explicit.session_id == "ses_arg"
    assert explicit.base_url == "http://env:2"
    assert Client(base_url="http://arg:3/").base_url == "http://arg:3"


def test_positional_api_key_and_explicit_config_path(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('url = "http://other:9"\n')
    client = Client("ak_live_pos", config_path=other)
    assert client.config.api_key == "ak_live_pos"
    assert client.base_url == "http://other:9"


def test_broken_config_file_is_an_invalid_request(home: Path) -> None:
    _write_config(home, "api_key = = broken")
    with pytest.raises(InvalidRequestError):
        Client()


def test_resolve_config_with_explicit_environ() -> None:
    cfg = resolve_config(environ={"ARTIFACT_HUB_API_URL": "http://alias:1"}, config_path="/none")
    assert cfg.base_url == "http://alias:1"


def test_session_new_is_local_and_unique() -> None:
    ids = {Client.session_new() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("ses_") and len(i) == 20 for i in ids)
    assert session_new().startswith("ses_")
    assert AsyncClient.session_new().startswith("ses_")


def test_client_package_exports() -> None:
    import artifact_hub
    import artifact_hub.client as client_pkg

    assert client_pkg.__all__ == sorted(client_pkg.__all__, key=lambda n: (not n.isupper(), n))
    assert all(hasattr(client_pkg, name) for name in client_pkg.__all__)
    assert artifact_hub.Client is Client and artifact_hub.AsyncClient is AsyncClient
    assert issubclass(artifact_hub.AcentaClient, AsyncClient)
    assert hasattr(artifact_hub.AcentaClient(api_key="k"), "artifact")
