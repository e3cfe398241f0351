"""The SDK is light: importing it loads no part of the server (issue 13).

Each check runs in a fresh interpreter, so modules other tests imported do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER_PACKAGES = ("aiokafka", "alembic", "boto3", "faststream", "sqlalchemy", "fastapi", "uvicorn")


def _loaded_after(statement: str) -> dict[str, list[str]]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        "print(json.dumps({'top': sorted({m.split('.')[0] for m in sys.modules}), "
        "'hub': sorted(m for m in sys.modules if m.startswith('artifact_hub'))}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    loaded: dict[str, list[str]] = json.loads(out.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import artifact_hub.client",
        "from artifact_hub import Client, AsyncClient, AcentaClient",
        "from artifact_hub import ArtifactHubError, Artifact, Caller",
    ],
)
def test_importing_the_sdk_loads_no_server_part(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert not set(SERVER_PACKAGES) & set(loaded["top"]), loaded["top"]
    server_side = ("index", "service", "storage", "bus", "plugin", "api", "consumers", "facade")
    assert not [m for m in loaded["hub"] if m.split(".")[1:2] and m.split(".")[1] in server_side]


def test_the_sdk_imports_only_core_and_schemas_of_the_hub() -> None:
    loaded = _loaded_after("import artifact_hub.client\nfrom artifact_hub import __version__")
    layers = {m.split(".")[1] for m in loaded["hub"] if m.count(".") >= 1}
    assert layers <= {"client", "core", "schemas"}, sorted(layers)


def test_the_agent_publisher_lives_outside_the_sdk() -> None:
    """It needs aiokafka, botocore and the bus adapter: ``artifact_hub.publisher``, not client."""
    with pytest.raises(subprocess.CalledProcessError):
        _loaded_after("import artifact_hub.client.publisher")
    loaded = _loaded_after("import artifact_hub.publisher")
    assert "aiokafka" in loaded["top"]


def test_the_server_side_exports_still_resolve_on_first_use() -> None:
    loaded = _loaded_after(
        "import artifact_hub\n"
        "assert artifact_hub.Hub.__name__ == 'Hub'\n"
        "assert artifact_hub.HubSettings.__name__ == 'HubSettings'\n"
        "assert callable(artifact_hub.bootstrap)\n"
        "from artifact_hub import ArtifactFacade, RunContext\n"
        "assert ArtifactFacade.__name__ == 'ArtifactFacade' and RunContext.__name__ == 'RunContext'"
    )
    assert "sqlalchemy" in loaded["top"]  # the hub came in when it was asked for
    with pytest.raises(subprocess.CalledProcessError):
        _loaded_after("import artifact_hub\nartifact_hub.NoSuchThing")
