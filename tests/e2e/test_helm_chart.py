"""The Helm chart ``deploy/helm/artifact-hub``: linted and rendered by Helm itself, offline.

No ``helm`` binary can be fetched here, and no cluster runs. ``helm-python-sdk`` (PyPI) binds
Helm v4's own Go SDK (``libhelm_c``, shipped inside the wheel): its ``lint`` is ``helm lint``
and its ``Chart.render`` is ``helm template``, templates, ``values.schema.json`` and
``required`` included. The rendered manifests are then checked:

- against the Kubernetes API's schemas (``kubernetes-validate``, offline, strict: unknown
  fields fail), for the oldest Kubernetes the chart supports and a recent one; KEDA's
  ScaledObject (a CRD, no schema there) structurally, by the fields its Kafka scaler takes;
- for what the issue asks of them: the API with an HPA on CPU, the consumers scaled by KEDA
  on the consumer group's lag, two relays (one active by the lease), the migrations Job as a
  pre-install/pre-upgrade hook, the settings from a Secret (or an existing one);
- every container's command and exec probe parsed by the real ``artifact-hub`` CLI, and the
  environment they get (ConfigMap, Secret, ``env``) accepted by ``HubSettings``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.e2e.image_cli import CliRefused, cli_envvars, parse_cli, setting_envvars

from artifact_hub.core.settings import HubSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "artifact-hub"
CI_VALUES: dict[str, Any] = yaml.safe_load((CHART / "ci" / "test-values.yaml").read_text())
# Chart.yaml's kubeVersion is >=1.25; kubernetes-validate ships schemas from 1.25 on.
KUBE_VERSIONS = ("1.25.0", "1.33.0")
pytestmark = pytest.mark.timeout(120)

Manifest = dict[str, Any]


def merged(*overrides: dict[str, Any]) -> dict[str, Any]:
    """CI_VALUES with ``overrides`` merged in, dict by dict."""

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    result = CI_VALUES
    for extra in overrides:
        result = merge(result, extra)
    return result


def render(values: dict[str, Any]) -> list[Manifest]:
    """``helm template hub CHART -n prod`` with ``values``, as parsed manifests."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="hub", namespace="prod", is_install=True)
    manifests: list[Manifest] = []
    for name, text in sorted(files.items()):
        if name.endswith(".txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


VARIANTS: dict[str, dict[str, Any]] = {
    "ci-values": {},
    "fixed-replicas": {
        "api": {"autoscaling": {"enabled": False}},
        "consumers": {"autoscaling": {"enabled": False}},
    },
    "existing-secret": {"existingSecret": "hub-settings"},
    "no-migrations-no-pdb": {
        "migrations": {"enabled": False},
        "api": {"podDisruptionBudget": {"enabled": False}},
        "relay": {"podDisruptionBudget": {"enabled": False}},
    },
    "migrate-only": {"migrations": {"bootstrapKey": False}},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    name: str = request.param
    return name, render(merged(VARIANTS[name]))


def find(manifests: list[Manifest], kind: str, suffix: str = "") -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {len(found)} found"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for m in manifests:
        if m["kind"] in {"Deployment", "Job"}:
            yield m["metadata"]["name"], m["spec"]["template"]["spec"]


def containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec["containers"]]


# ------------------------------------------------------------------------ Chart.yaml, lint


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]  # the image tag by default


@pytest.mark.parametrize("values", [None, CI_VALUES], ids=["defaults", "ci-values"])
def test_helm_lint_strict_is_clean(values: dict[str, Any] | None) -> None:
    report = helm.lint(str(CHART), values, strict=True)
    print(f"helm lint ({helm.helm_sdk_version()}):", json.dumps(report["messages"]))
    assert report["total_charts_linted"] == 1
    assert not report["errors"]
    # Helm's severities: 1 info, 2 warning, 3 error. Only infos ("icon is recommended") pass.
    assert all(m["severity"] < 2 for m in report["messages"]), report["messages"]


# ------------------------------------------------------------------------ values and schema


def test_values_match_their_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(defaults)
    with helm.Chart.load(str(CHART)) as chart:
        assert chart.values == defaults
        for overrides in VARIANTS.values():
            chart.validate_schema(merged(overrides))


@pytest.mark.parametrize(
    "bad",
    [
        {"api": {"workers": 0}},
        {"relay": {"replicas": 0}},
        {"config": {"searchEmbedder": "bert"}},
        {"config": {"extraEnv": {"DATABASE_URL": "x"}}},
        {"secret": {"databaseUrl": "mysql://x"}},
        {"unknown": 1},
    ],
)
def test_the_schema_refuses_wrong_values(bad: dict[str, Any]) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError):
        chart.render(merged(bad), name="hub")


def test_missing_settings_stop_the_render() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmError, match="databaseUrl"):
            chart.render({}, name="hub")
        # An existing Secret carries them; KEDA still needs the brokers' address.
        chart.render({"existingSecret": "s"}, name="hub")
        with pytest.raises(helm.HelmError, match="bootstrapServers"):
            chart.render(
                {"existingSecret": "s", "consumers": {"autoscaling": {"enabled": True}}},
                name="hub",
            )


# -------------------------------------------------------------------- the rendered manifests


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_manifests_are_valid_kubernetes(variant: tuple[str, list[Manifest]], kube: str) -> None:
    _, manifests = variant
    for manifest in manifests:
        if manifest["kind"] == "ScaledObject":
            check_scaled_object(manifest)
            continue
        kubernetes_validate.validate(manifest, kube, strict=True)


def check_scaled_object(scaled: Manifest) -> None:
    """KEDA's ScaledObject with a Kafka trigger, by the fields KEDA documents."""
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
    }
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert all(isinstance(v, str) for v in metadata.values())  # KEDA's metadata is strings
    assert {"bootstrapServers", "consumerGroup", "lagThreshold"} <= set(metadata)
    assert int(metadata["lagThreshold"]) > 0


def test_api_scales_on_cpu_with_an_hpa() -> None:
    manifests = render(CI_VALUES)
    api = find(manifests, "Deployment", "-api")
    assert "replicas" not in api["spec"]  # the HPA owns the count
    hpa = find(manifests, "HorizontalPodAutoscaler", "-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": api["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"]  # utilisation needs a request
    service = find(manifests, "Service", "-api")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ARTIFACT_HUB_RUN_RELAY"] == "false"  # the relay has its own Deployment

    fixed = render(merged(VARIANTS["fixed-replicas"]))
    assert find(fixed, "Deployment", "-api")["spec"]["replicas"] == 2
    assert not [m for m in fixed if m["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}]


def test_consumers_scale_on_lag_with_keda() -> None:
    manifests = render(CI_VALUES)
    consumers = find(manifests, "Deployment", "-consumers")
    assert "replicas" not in consumers["spec"]  # KEDA owns the count
    scaled = find(manifests, "ScaledObject", "-consumers")
    assert scaled["spec"]["scaleTargetRef"]["name"] == consumers["metadata"]["name"]
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    config = find(manifests, "ConfigMap", "hub-artifact-hub-config")["data"]
    assert metadata["consumerGroup"] == config["ARTIFACT_HUB_CONSUMER_GROUP"]
    assert metadata["bootstrapServers"] == CI_VALUES["kafka"]["bootstrapServers"]
    assert metadata["allowIdleConsumers"] == "false"  # never more consumers than partitions


def test_relay_runs_active_and_standby() -> None:
    manifests = render(CI_VALUES)
    relay = find(manifests, "Deployment", "-relay")
    assert relay["spec"]["replicas"] == 2
    anti = relay["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert find(manifests, "PodDisruptionBudget", "-relay")["spec"]["minAvailable"] == 1


def test_migrations_run_as_a_hook_before_install_and_upgrade() -> None:
    manifests = render(CI_VALUES)
    job = find(manifests, "Job", "-migrations")
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert [c["args"] for c in containers(spec)] == [["db", "upgrade"], ["admin", "bootstrap"]]
    # What the Job reads exists before it: hook copies, weighted first.
    for kind in ("ConfigMap", "Secret"):
        copy = find(manifests, kind, "-migrations-" + ("config" if kind == "ConfigMap" else "env"))
        annotations = copy["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == hooks["helm.sh/hook"]
        assert int(annotations["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    assert not [m for m in render(merged({"migrations": {"enabled": False}})) if m["kind"] == "Job"]


def test_settings_come_from_a_secret_or_an_existing_one() -> None:
    manifests = render(CI_VALUES)
    secret = find(manifests, "Secret", "hub-artifact-hub-env")
    assert "ARTIFACT_HUB_DATABASE_URL" in secret["data"]
    for name, spec in pod_specs(manifests):
        for container in containers(spec):
            refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
            assert refs["secretRef"].endswith("-env"), name
    existing = render(merged(VARIANTS["existing-secret"]))
    assert not [m for m in existing if m["kind"] == "Secret"]
    for name, spec in pod_specs(existing):
        for container in containers(spec):
            assert {"secretRef": {"name": "hub-settings"}} in container["envFrom"], name


# ----------------------------------------------------- commands, probes and their settings


def environment(manifests: list[Manifest], container: Manifest) -> dict[str, str]:
    """The variables ``container`` starts with (its ConfigMaps, Secrets and ``env``)."""
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            env.update(find(manifests, "ConfigMap", ref["configMapRef"]["name"])["data"])
        else:
            secret = find(manifests, "Secret", ref["secretRef"]["name"])
            env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


def test_every_command_and_probe_parses_and_every_setting_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith("ARTIFACT_HUB_"):
            monkeypatch.delenv(name)
    manifests = render(CI_VALUES)
    known = setting_envvars() | cli_envvars()
    seen: set[str] = set()
    for pod, spec in pod_specs(manifests):
        for container in containers(spec):
            assert "command" not in container, pod  # the image's ENTRYPOINT: artifact-hub
            env = environment(manifests, container)
            assert set(env) <= known, (pod, sorted(set(env) - known))
            commands = [container["args"]]
            probes = [container.get(p) for p in ("livenessProbe", "startupProbe")]
            if spec.get("restartPolicy") != "Never":
                assert container.get("livenessProbe"), f"{pod}/{container['name']}: no probe"
            for probe in probes:
                if probe and "exec" in probe:
                    argv = probe["exec"]["command"]
                    assert argv[0] == "artifact-hub"
                    commands.append(argv[1:])
                elif probe:
                    assert probe["httpGet"]["path"] == "/health"
            with monkeypatch.context() as patch:
                for key, value in env.items():
                    patch.setenv(key, value)
                settings = HubSettings()
                assert settings.event_bus == "kafka" and settings.blob_store == "s3"
                for argv in commands:
                    try:
                        seen.add(parse_cli(argv).command_path)
                    except CliRefused as error:
                        pytest.fail(f"{pod}: artifact-hub {' '.join(argv)}: {error}")
    assert {
        "artifact-hub serve",
        "artifact-hub consumers",
        "artifact-hub relay",
        "artifact-hub db upgrade",
        "artifact-hub admin bootstrap",
        "artifact-hub health",
    } <= seen
