"""``compose.yaml`` and the ``Dockerfile``, checked as far as a machine without Docker can.

No Docker engine runs here, so the stack is never started. What is checked instead:

- ``compose.yaml`` against the Compose Specification's JSON schema (``tests/fixtures/
  compose-spec``), before and after ``${VAR:-default}`` interpolation;
- a healthcheck on every service: a real check on the long-running ones, an explicit
  ``disable`` on the one-shot jobs, which the others wait for with
  ``service_completed_successfully``;
- the ``depends_on`` graph: known services, no cycle, and each condition meaningful;
- every command the hub's image runs (services, ``CMD``, ``HEALTHCHECK``) parsed by the real
  ``artifact-hub`` command line, with that service's environment, as far as click goes before
  running anything (commands, options, choices, required values, ``envvar`` conversions);
- every ``ARTIFACT_HUB_*`` variable a setting of :class:`HubSettings` or an option's
  ``envvar``, and each service's environment accepted by ``HubSettings``;
- the first API key lands where the README says (``/data/bootstrap-key.txt``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.e2e.image_cli import CliRefused, cli_envvars, parse_cli, setting_envvars

from artifact_hub.cli.admin import BOOTSTRAP_KEY_FILE
from artifact_hub.core.settings import HubSettings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"
pytestmark = pytest.mark.timeout(60)

# Variables of the image's processes that are not the hub's own: boto3's and Python's.
FOREIGN_ENV = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` over ``value``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        if op == ":-" and not current:
            return default
        if op == "-" and current is None:
            return default
        return current or ""

    return _VAR.sub(one, value)


def raw_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``compose.yaml`` as Compose reads it with ``env`` (default: nothing set)."""
    resolved: dict[str, Any] = interpolate(raw_compose(), env or {})
    return resolved


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def hub_services() -> dict[str, dict[str, Any]]:
    """The services that run the hub's image (its ENTRYPOINT is ``artifact-hub``)."""
    return {name: s for name, s in services().items() if s.get("image") == "artifact-hub:local"}


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, rest), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def instruction(keyword: str) -> list[str]:
    return [rest for key, rest in dockerfile() if key == keyword]


# ------------------------------------------------------------------------------- the schema


@pytest.mark.parametrize(
    "env",
    [{}, {"ARTIFACT_HUB_EXTRAS": "", "ARTIFACT_HUB_SEARCH_EMBEDDER": "none"}],
    ids=["default", "slim"],
)
def test_compose_matches_the_compose_spec(env: dict[str, str]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    for document in (raw_compose(), compose(env)):
        problems = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)
        ]
        assert not problems, problems


def test_the_slim_variant_builds_without_extras_and_without_an_embedder() -> None:
    default = compose()["services"]["api"]["build"]["args"]
    assert default == {"EXTRAS": "semantic", "SEARCH_EMBEDDER": "minilm"}
    slim = compose({"ARTIFACT_HUB_EXTRAS": "", "ARTIFACT_HUB_SEARCH_EMBEDDER": "none"})
    assert slim["services"]["api"]["build"]["args"] == {"EXTRAS": "", "SEARCH_EMBEDDER": "none"}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "semantic" in extras
    args = dict(rest.split("=", 1) for rest in instruction("ARG"))
    assert args["EXTRAS"] == "semantic" and args["SEARCH_EMBEDDER"] == "minilm"


# ------------------------------------------------------------------- healthchecks and order


def test_every_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if is_one_shot(service):
            # A job that exits has nothing to check; the Dockerfile's check is for the API.
            assert check == {"disable": True}, name
            continue
        assert not check.get("disable"), name
        test = check["test"]
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"}, name
        assert check.get("interval") and check.get("timeout") and check.get("retries"), name


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {target: spec["condition"] for target, spec in depends.items()}


def test_depends_on_is_acyclic_and_each_condition_can_be_met() -> None:
    all_services = services()
    graph = {name: dependencies(s) for name, s in all_services.items()}
    for name, deps in graph.items():
        for target, condition in deps.items():
            assert target in all_services, f"{name} depends on unknown {target}"
            target_service = all_services[target]
            if condition == "service_healthy":
                assert "test" in target_service.get("healthcheck", {}), (name, target)
            elif condition == "service_completed_successfully":
                assert is_one_shot(target_service), (name, target)
            else:
                pytest.fail(f"{name} -> {target}: {condition}; wait for health or completion")
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        visiting.add(name)
        for target in graph[name]:
            visit(target, (*path, name))
        visiting.discard(name)
        done.add(name)

    for name in graph:
        visit(name, ())


def test_the_hub_starts_after_migrations_and_the_first_key() -> None:
    hub = hub_services()
    assert hub["migrate"]["command"] == ["db", "upgrade"]
    assert hub["init"]["command"] == ["admin", "bootstrap"]
    assert dependencies(hub["init"]) == {"migrate": "service_completed_successfully"}
    for name in ("api", "consumers", "relay"):
        deps = dependencies(hub[name])
        assert deps["migrate"] == "service_completed_successfully", name
        assert deps["kafka"] == "service_healthy", name
    assert dependencies(hub["api"])["init"] == "service_completed_successfully"
    # The relay runs active/standby: more than one replica, one lease.
    assert hub["relay"]["deploy"]["replicas"] >= 2


def test_the_first_api_key_is_stored_where_the_readme_says() -> None:
    env = dict(rest.split("=", 1) for rest in _env_pairs())
    data_dir = env["ARTIFACT_HUB_DATA_DIR"]
    key_path = f"{data_dir}/{BOOTSTRAP_KEY_FILE}"
    init = hub_services()["init"]
    volume = next(v for v in init["volumes"] if v.split(":")[1] == data_dir)
    assert volume.split(":")[0] in compose()["volumes"]  # a named volume: it outlives `init`
    readme = (ROOT / "README.md").read_text()
    assert key_path in readme
    assert f"docker compose exec api cat {key_path}" in readme
    assert f"cat {key_path}" in (ROOT / "compose.yaml").read_text()


def _env_pairs() -> Iterator[str]:
    """The image's ``ENV`` as NAME=VALUE, with ``$ARG`` replaced by the ARG's default."""
    args = dict(rest.split("=", 1) for rest in instruction("ARG"))
    for rest in instruction("ENV"):
        for pair in shlex.split(rest):
            yield re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: args.get(m.group(1), m.group(0)), pair)


# ------------------------------------------------------- commands and the variables they read


def image_commands() -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """(where, argv after the entrypoint, environment) of every command the image runs."""
    entrypoint = json.loads(instruction("ENTRYPOINT")[0])
    assert entrypoint == ["artifact-hub"]
    image_env = dict(pair.split("=", 1) for pair in _env_pairs())
    yield "Dockerfile CMD", json.loads(instruction("CMD")[0]), image_env
    check = instruction("HEALTHCHECK")[0]
    check_args = json.loads(check[check.index("CMD ") + 4 :])
    assert check_args[0] == "artifact-hub"
    yield "Dockerfile HEALTHCHECK", check_args[1:], image_env
    for name, service in hub_services().items():
        env = {**image_env, **{k: str(v) for k, v in service.get("environment", {}).items()}}
        assert "entrypoint" not in service, name
        yield f"{name} command", service["command"], env
        test = service["healthcheck"].get("test")
        if test:
            assert test[0] == "CMD" and test[1] == "artifact-hub", name
            yield f"{name} healthcheck", test[2:], env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("ARTIFACT_HUB_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_command_of_the_image_parses_with_the_real_cli(
    clean_env: pytest.MonkeyPatch,
) -> None:
    seen = []
    for where, argv, env in image_commands():
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            try:
                ctx = parse_cli(argv)
            except CliRefused as error:
                pytest.fail(f"{where}: artifact-hub {shlex.join(argv)}: {error}")
            seen.append((where, ctx.command_path))
    paths = {path for _, path in seen}
    assert {"artifact-hub serve", "artifact-hub consumers", "artifact-hub relay"} <= paths
    assert {"artifact-hub db upgrade", "artifact-hub admin bootstrap"} <= paths
    assert "artifact-hub health" in paths


def test_a_misspelt_command_would_be_caught() -> None:
    # The check above is only worth something if the parser refuses what the CLI refuses.
    for argv in (["serv"], ["health", "--role", "worker"], ["health"], ["db", "upgrade", "-x"]):
        with pytest.raises(CliRefused):
            parse_cli(argv)


def test_every_variable_is_read_by_the_hub(clean_env: pytest.MonkeyPatch) -> None:
    known = setting_envvars() | cli_envvars()
    image_env = dict(pair.split("=", 1) for pair in _env_pairs())
    for name, service in hub_services().items():
        env = {**image_env, **{k: str(v) for k, v in service.get("environment", {}).items()}}
        unknown = {k for k in env if k not in known and k not in FOREIGN_ENV}
        assert not unknown, f"{name}: no setting or option reads {sorted(unknown)}"
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            settings = HubSettings()  # the values must validate, not only the names
        assert settings.event_bus == "kafka" and settings.blob_store == "s3", name
        assert settings.database_url and settings.database_url.startswith("postgresql"), name
