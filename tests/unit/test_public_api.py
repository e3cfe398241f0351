"""The public names: every ``__all__`` is real, unique, RUF022-sorted; SDK errors at top level."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest

import artifact_hub
import artifact_hub.core.errors as errors

PACKAGES = [
    "artifact_hub",
    "artifact_hub.schemas",
    "artifact_hub.adapters.storage",
    "artifact_hub.adapters.index",
    "artifact_hub.adapters.bus",
    "artifact_hub.consumers",
    "artifact_hub.service",
    "artifact_hub.plugin",
    "artifact_hub.core.errors",
]

# reference.md section 2: the exception classes SDK users catch.
SDK_ERRORS = [
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "ArtifactNotFoundError",
    "VersionNotFoundError",
    "SessionNotFoundError",
    "LinkNotFoundError",
    "UploadNotFoundError",
    "SessionSealedError",
    "ConflictError",
    "ArtifactExpiredError",
    "ArtifactDeletedError",
    "FileTooLargeError",
    "ChecksumMismatchError",
    "QuotaExceededError",
    "TTLExceedsPlanLimitError",
    "RateLimitedError",
    "ServerError",
]


def _ruf022_key(name: str) -> tuple[int, list[object]]:
    """Ruff's isort-style order: SCREAMING_CASE, then CamelCase, then the rest; natural sort."""
    if len(name) > 1 and name.upper() == name and any(c.isalpha() for c in name):
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    parts: list[object] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return category, parts


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_ruf022_key_orders_like_ruff() -> None:
    names = ["bootstrap", "Hub", "TTL", "__version__", "DLQ_TOPIC", "Access", "item10", "item2"]
    assert sorted(names, key=_ruf022_key) == [
        "DLQ_TOPIC",
        "TTL",
        "Access",
        "Hub",
        "__version__",
        "bootstrap",
        "item2",
        "item10",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist(package: str) -> None:
    module = _module(package)
    assert module.__all__, package
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES)
def test_all_has_no_duplicates_and_only_strings(package: str) -> None:
    names = list(_module(package).__all__)
    assert all(isinstance(name, str) for name in names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_like_ruf022(package: str) -> None:
    names = list(_module(package).__all__)
    assert names == sorted(names, key=_ruf022_key)


@pytest.mark.parametrize("package", PACKAGES)
def test_star_import_gives_exactly_all(package: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(_module(package).__all__)


def test_sdk_errors_are_public_in_errors_module() -> None:
    assert set(SDK_ERRORS) <= set(errors.__all__)


@pytest.mark.parametrize("name", SDK_ERRORS)
def test_sdk_errors_importable_from_top_level(name: str) -> None:
    assert name in artifact_hub.__all__
    assert getattr(artifact_hub, name) is getattr(errors, name)


def test_every_public_error_reexported_top_level_is_the_same_object() -> None:
    for name in errors.__all__:
        if hasattr(artifact_hub, name):
            assert getattr(artifact_hub, name) is getattr(errors, name), name


def test_top_level_core_names() -> None:
    for name in ("ArtifactHubError", "Hub", "bootstrap", "HubSettings", "Artifact", "Caller"):
        assert name in artifact_hub.__all__
    assert isinstance(artifact_hub.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", artifact_hub.__version__)
