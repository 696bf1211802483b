"""deploy/helm/ownit: rendered by Helm's own template engine, every object valid by Kubernetes.

Rendering uses the Helm SDK (Go, as in `helm template`) through the helm-python-sdk package, so no
`helm` binary is needed; kubernetes-validate checks each object against the Kubernetes OpenAPI
schemas, strictly (an unknown field is an error), for the oldest and newest versions supported.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy import DEPLOY, need_module

CHART = DEPLOY / "helm" / "ownit"
KUBERNETES = ["1.25.0", "1.37.0"]  # Chart.yaml's kubeVersion floor, and the newest schemas
SECRETS = {"DATABASE_URL": "postgresql://ownit:pw@db:5432/ownit", "REDIS_URL": "redis://r:6379/0"}

Objects = dict[tuple[str, str], dict[str, Any]]


def render(values: dict[str, Any] | None = None, *, upgrade: bool = False) -> Objects:
    need_module("helm_python")
    import helm_python as helm

    merged = {"secret": {"values": dict(SECRETS)}, **(values or {})}
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(
            merged, name="ownit", namespace="chat", is_install=not upgrade, is_upgrade=upgrade
        )
    objects: Objects = {}
    for text in manifests.values():
        for doc in yaml.safe_load_all(text):
            if doc:
                key = (doc["kind"], doc["metadata"]["name"])
                assert key not in objects, f"{key} rendered twice"
                objects[key] = doc
    return objects


FULL = {
    "ingress": {"enabled": True, "className": "nginx"},
    "org": "people:\n  - handle: alex\n",
    "imagePullSecrets": [{"name": "registry"}],
    "podAnnotations": {"team": "support"},
}


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize(
    "values",
    [
        {},
        FULL,
        {"autoscaling": {"enabled": False}, "metrics": {"enabled": False}},
        {"secret": {"existingSecret": "ownit-prod"}, "serviceAccount": {"create": False}},
    ],
    ids=["defaults", "everything", "fixed-replicas", "existing-secret"],
)
def test_every_rendered_object_is_valid_kubernetes(values: dict[str, Any], version: str) -> None:
    need_module("kubernetes_validate")
    import kubernetes_validate

    objects = render(values)
    assert objects
    for key, obj in objects.items():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key} on Kubernetes {version}: {exc.message} at {list(exc.path)}")


def test_the_chart_lints_clean() -> None:
    need_module("helm_python")
    import helm_python as helm

    report = helm.lint(str(CHART), {"secret": {"values": SECRETS}}, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_the_deployment_serves_with_probes_replicas_and_no_root() -> None:
    objects = render({"autoscaling": {"enabled": False}, "replicaCount": 3})
    deployment = objects[("Deployment", "ownit")]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PORT"] == "3000"
    assert [ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref] == [
        "ownit-secrets"
    ]
    with_hpa = render()
    assert "replicas" not in with_hpa[("Deployment", "ownit")]["spec"]  # the HPA's to set
    hpa = with_hpa[("HorizontalPodAutoscaler", "ownit")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ownit"


def test_the_tokens_are_in_a_secret_made_before_the_migration_job() -> None:
    objects = render({"secret": {"values": {**SECRETS, "SLACK_BOT_TOKEN": "xoxb-1"}}})
    secret = objects[("Secret", "ownit-secrets")]
    assert secret["stringData"] == {**SECRETS, "SLACK_BOT_TOKEN": "xoxb-1"}  # blanks left out
    job = objects[("Job", "ownit-migrate")]
    for obj in (secret, job):
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    weight = "helm.sh/hook-weight"
    assert int(secret["metadata"]["annotations"][weight]) < int(
        job["metadata"]["annotations"][weight]
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    # Nothing the chart makes holds a token in plain sight.
    for key, obj in objects.items():
        if key[0] != "Secret":
            assert "xoxb-1" not in yaml.safe_dump(obj) and "pw@" not in yaml.safe_dump(obj), key


def test_without_a_database_url_the_chart_refuses_to_render() -> None:
    need_module("helm_python")
    import helm_python as helm

    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError, match="DATABASE_URL"):
        chart.render({}, name="ownit")
    existing = render({"secret": {"existingSecret": "ownit-prod", "values": {}}})
    assert ("Secret", "ownit-secrets") not in existing


def test_the_migration_job_is_not_selected_by_the_service_or_the_budget() -> None:
    objects = render()
    job_labels = objects[("Job", "ownit-migrate")]["spec"]["template"]["metadata"]["labels"]
    pod_labels = objects[("Deployment", "ownit")]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        objects[("Service", "ownit")]["spec"]["selector"],
        objects[("PodDisruptionBudget", "ownit")]["spec"]["selector"]["matchLabels"],
        objects[("Deployment", "ownit")]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= job_labels.items()


def test_metrics_get_their_own_port_and_scrape_annotations() -> None:
    objects = render()
    template = objects[("Deployment", "ownit")]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 3000, "metrics": 9090}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OWNIT_METRICS_PORT"] == "9090"
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9090"
    assert annotations["prometheus.io/path"] == "/metrics"
    service_ports = {p["name"] for p in objects[("Service", "ownit")]["spec"]["ports"]}
    assert service_ports == {"http", "metrics"}


def test_the_ingress_publishes_only_the_platform_endpoints_over_tls() -> None:
    ingress = render(FULL)[("Ingress", "ownit")]
    (rule,) = ingress["spec"]["rules"]
    paths = {p["path"] for p in rule["http"]["paths"]}
    assert paths == {"/slack/events", "/api/messages"}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    assert all(p["backend"]["service"]["port"]["name"] == "http" for p in rule["http"]["paths"])


def test_an_org_file_is_mounted_and_named() -> None:
    objects = render(FULL)
    assert objects[("ConfigMap", "ownit-org")]["data"]["ownit.yaml"].startswith("people:")
    (container,) = objects[("Deployment", "ownit")]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OWNIT_ORG_FILE"] == "/etc/ownit/ownit.yaml"
    assert "OWNIT_ORG_FILE" not in str(render()[("Deployment", "ownit")])  # the example org


def test_a_disruption_budget_and_upgrades_keep_replicas_serving() -> None:
    objects = render(upgrade=True)
    assert objects[("PodDisruptionBudget", "ownit")]["spec"]["maxUnavailable"] == 1
    strategy = objects[("Deployment", "ownit")]["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
