"""deploy/k8s/, checked without a cluster: every manifest validates against the Kubernetes
schemas that the kubernetes-validate wheel ships, and the numbers agree with Settings: the
grace period covers the drain, the memory budget fits the limit with its headroom, the probes
ask real endpoints, and the connections of every replica fit PostgreSQL's max_connections."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.main import create_app
from app.serving.memory_budget import JITTER_SHARE, MB, auto_budget_bytes
from app.settings import MIN_WORKER_MEMORY_MB, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
# PostgreSQL keeps these for superusers out of max_connections
SUPERUSER_RESERVED = 3
# an arbiter (gunicorn plus the imported app) as measured here; see docs/containers.md
ARBITER_MB = 80
QUANTITY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}


def documents() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(K8S.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def by_kind(kind: str) -> dict[str, Any]:
    (found,) = [document for document in documents() if document["kind"] == kind]
    return found


def container() -> dict[str, Any]:
    (only,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = only
    return found


def settings() -> Settings:
    """The Settings the pods start with: the ConfigMap's values (a typo in one fails here)."""
    data = by_kind("ConfigMap")["data"]
    unknown = {
        key for key in data if key.removeprefix("LEAKPROOF_").lower() not in Settings.model_fields
    }
    assert not unknown, f"the ConfigMap sets {unknown}, which no setting reads"
    return load_settings(**{key.removeprefix("LEAKPROOF_").lower(): v for key, v in data.items()})


def quantity_bytes(text: str) -> int:
    for suffix, factor in QUANTITY.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)


@pytest.mark.parametrize("document", documents(), ids=lambda d: d["kind"])
def test_every_manifest_follows_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelt_key() -> None:
    broken = copy.deepcopy(by_kind("Deployment"))
    spec = broken["spec"]["template"]["spec"]
    spec["terminationGracePeriodSecond"] = spec.pop("terminationGracePeriodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError, match="terminationGracePeriodSecond"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_grace_period_outlasts_the_pre_stop_pause_and_the_drain() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    pause = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    # SIGKILL after the grace period: it must come after every worker has drained
    assert pod["terminationGracePeriodSeconds"] > int(pause[1]) + settings().graceful_timeout_s


def test_the_memory_budget_fits_the_limit_with_its_headroom() -> None:
    resources = container()["resources"]
    limit = quantity_bytes(resources["limits"]["memory"])
    assert quantity_bytes(resources["requests"]["memory"]) == limit  # guaranteed, not overcommitted
    chosen = settings()
    assert chosen.max_worker_memory_mb == "auto"
    budget = auto_budget_bytes(
        limit,
        workers=chosen.workers,
        headroom=chosen.worker_memory_headroom,
        reserved_bytes=ARBITER_MB * MB,
    )
    # each worker gets more than it holds idle, and all of them at their budget (jitter
    # included) with the arbiter leave the headroom free for the drain
    assert budget >= MIN_WORKER_MEMORY_MB * MB * 1.5
    worst = chosen.workers * budget * (1 + JITTER_SHARE) + ARBITER_MB * MB
    assert worst <= limit * (1 - chosen.worker_memory_headroom) + 1


def test_the_probes_ask_the_apps_health_endpoints_on_its_port() -> None:
    paths = set(create_app(load_settings()).openapi()["paths"])
    probes = container()
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {"/health/live", "/health/ready"} <= paths
    ports = {port["name"]: port["containerPort"] for port in probes["ports"]}
    assert ports[probes["livenessProbe"]["httpGet"]["port"]] == 8000  # gunicorn's BIND in the image


def test_the_pod_gets_its_settings_secret_and_allocator_cap() -> None:
    env = {variable["name"]: variable for variable in container()["env"]}
    secret = env["LEAKPROOF_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret["name"]
    assert secret["key"]
    assert int(env["MALLOC_ARENA_MAX"]["value"]) >= 1
    config_map = container()["envFrom"][0]["configMapRef"]["name"]
    assert config_map == by_kind("ConfigMap")["metadata"]["name"]


def test_every_replica_s_connections_fit_postgres() -> None:
    chosen = settings()
    max_connections = int(
        by_kind("ConfigMap")["metadata"]["annotations"][
            "leakproof.example/postgres-max-connections"
        ]
    )
    replicas = max(by_kind("HorizontalPodAutoscaler")["spec"]["maxReplicas"], 2)
    per_pod = chosen.workers * (chosen.db_pool_size + chosen.db_max_overflow)
    assert replicas * per_pod <= max_connections - SUPERUSER_RESERVED


def test_the_service_disruption_budget_and_autoscaler_find_the_deployment() -> None:
    deployment = by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert by_kind("Service")["spec"]["selector"].items() <= labels.items()
    assert (
        by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    target = by_kind("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
