"""The Pulumi program (stacks/__main__.py) under mocks: what each stack creates, validated as Kubernetes manifests.

No pulumi CLI, no cluster: `pulumi.runtime.set_mocks` stands in for the engine, so these tests check
the resources and their inputs, not that a cluster accepts them (that is tests/infra/test_cluster_e2e.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
import yaml

from rolloutlab.infra.gateway import CONTROLLER_NAME, ENVOY_GATEWAY_CHART, ROUTER_SERVICE
from rolloutlab.infra.load_generator import EXPORTER_PORT
from rolloutlab.infra.load_image import load_image_tag
from rolloutlab.k8s_names import (
    LIVENESS_PATH, MODEL_PORT, MODEL_USER_ID, READINESS_PATH, K8sNames,
)
from tests.infra.conftest import (
    FAKE_KUBECONFIG, PROGRAM, PROJECT, ProgramRun, run_program, start_mocks, validate_core, validate_gateway_api,
)

NAMES = K8sNames()
EXEMPT_TYPES = ("kubernetes:helm.sh/v3:Release",)


@pytest.fixture(scope="module")
def holdout_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("holdout") / "holdout.json"
    path.write_text(json.dumps([{"features": [float(i % 16) for i in range(64)], "label": 3}]))
    return path


@pytest.fixture(scope="module")
def kind(holdout_file: Path) -> ProgramRun:
    return run_program("kind", holdout=str(holdout_file))


def _pod_specs(run: ProgramRun) -> dict[str, dict]:
    return {name: r.manifest()["spec"]["template"]["spec"] for name, r in run.objects("Deployment").items()}


def test_every_kubernetes_object_is_a_valid_manifest(kind: ProgramRun) -> None:
    checked = set()
    for resource in kind.resources:
        if not resource.typ.startswith("kubernetes:") or resource.typ in EXEMPT_TYPES:
            continue
        manifest = resource.manifest()
        if manifest["apiVersion"].startswith("gateway.networking.k8s.io/"):
            validate_gateway_api(manifest)
        elif manifest["apiVersion"].startswith("gateway.envoyproxy.io/"):
            continue  # no published schema to hand; its fields are checked in the router test below
        else:
            validate_core(manifest)
        checked.add(manifest["kind"])
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "ServiceAccount", "Role", "RoleBinding",
            "Gateway", "GatewayClass", "HTTPRoute"} <= checked


def test_a_broken_manifest_is_caught_by_the_validators(kind: ProgramRun) -> None:
    deployment = kind.one("Deployment", NAMES.version_service("v1"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "3000"
    with pytest.raises(Exception, match="3000"):
        validate_core(deployment)
    route = kind.one("HTTPRoute", NAMES.httproute)
    route["spec"]["rules"][-1]["backendRefs"][0]["weight"] = -1
    with pytest.raises(Exception, match="-1"):
        validate_gateway_api(route)


def test_every_resource_is_a_child_of_a_component(kind: ProgramRun) -> None:
    def tree(resource: pulumi.Resource) -> int:
        return 1 + sum(tree(child) for child in resource._childResources)

    # Everything the mocks saw sits below the top-level components (parent=self all the way down).
    top = [kind.program["cluster"], kind.program["lab"], kind.program["load_image"]]
    # ... except the StackReference the image check reads (infra/deployed_images.py), at the top by design.
    assert sum(tree(component) for component in top) + 1 == len(kind.resources)
    assert [r.typ for r in kind.resources].count("pulumi:pulumi:StackReference") == 1
    components = [r.typ for r in kind.resources if r.typ.startswith("rolloutlab:")]
    assert set(components) == {
        "rolloutlab:cluster:Cluster", "rolloutlab:lab:RolloutLab", "rolloutlab:model_version:ModelVersion",
        "rolloutlab:gateway:ModelRouter", "rolloutlab:prometheus:Prometheus", "rolloutlab:load_generator:LoadGenerator",
        "rolloutlab:load_image:LoadImage",
    }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_each_version_runs_its_immutable_image_as_the_model_user(kind: ProgramRun, version: str) -> None:
    name = NAMES.version_service(version)
    deployment = kind.one("Deployment", name)
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == NAMES.image(version) == f"digits-classifier:{version}"
    assert container["ports"] == [{"name": "http", "containerPort": MODEL_PORT, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": READINESS_PATH, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVENESS_PATH, "port": "http"}
    assert pod["spec"]["securityContext"]["runAsUser"] == MODEL_USER_ID
    assert pod["metadata"]["labels"] == NAMES.version_labels(version)
    assert deployment["spec"]["selector"]["matchLabels"] == NAMES.version_labels(version)

    service = kind.one("Service", name)
    assert service["spec"]["selector"] == NAMES.version_labels(version)
    assert service["spec"]["ports"] == [{"name": "http", "port": MODEL_PORT, "targetPort": "http", "protocol": "TCP"}]
    assert kind.outputs["endpoints"]["versions"][version] == f"http://{name}.rolloutlab.svc.cluster.local:{MODEL_PORT}"


def test_initial_route_sends_all_traffic_to_the_first_version_through_the_lab_gateway(kind: ProgramRun) -> None:
    route = kind.one("HTTPRoute", NAMES.httproute)
    default = route["spec"]["rules"][-1]
    assert default["backendRefs"] == [
        {"group": "", "kind": "Service", "name": NAMES.version_service("v1"), "port": MODEL_PORT, "weight": 100}]
    services = kind.objects("Service")
    for rule in route["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            assert ref["name"] in services and ref["port"] == MODEL_PORT
    assert route["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"

    (parent,) = route["spec"]["parentRefs"]
    gateway = kind.one("Gateway", parent["name"])
    assert gateway["metadata"]["namespace"] == route["metadata"]["namespace"] == "rolloutlab"
    gateway_class = kind.one("GatewayClass", gateway["spec"]["gatewayClassName"])
    assert gateway_class["spec"]["controllerName"] == CONTROLLER_NAME
    reference = gateway_class["spec"]["parametersRef"]
    proxy = kind.one("EnvoyProxy", reference["name"])
    assert (reference["kind"], reference["namespace"]) == ("EnvoyProxy", proxy["metadata"]["namespace"])
    assert proxy["spec"]["provider"]["kubernetes"]["envoyService"] == {"name": ROUTER_SERVICE, "type": "ClusterIP"}

    (release,) = kind.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == ENVOY_GATEWAY_CHART and release.inputs["version"].startswith("v1.")
    assert kind.outputs["endpoints"]["router"]["service"] == ROUTER_SERVICE


def test_blue_green_stable_service_starts_on_the_first_version(kind: ProgramRun) -> None:
    stable = kind.one("Service", NAMES.stable_service)
    assert stable["spec"]["selector"] == NAMES.version_labels("v1")
    assert stable["spec"]["ports"][0]["port"] == MODEL_PORT
    assert kind.outputs["endpoints"]["stable"]["service"] == NAMES.stable_service


def test_prometheus_discovers_model_pods_and_scrapes_them_every_second_labelled_by_version(kind: ProgramRun) -> None:
    config = yaml.safe_load(kind.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    assert config["global"]["scrape_interval"] == "1s"
    model = next(job for job in config["scrape_configs"] if job["job_name"] == "model")
    (discovery,) = model["kubernetes_sd_configs"]
    assert discovery["role"] == "pod" and discovery["namespaces"]["names"] == ["rolloutlab"]
    relabels = {r.get("target_label"): r for r in model["relabel_configs"]}
    assert relabels["version"]["source_labels"] == ["__meta_kubernetes_pod_label_rolloutlab_dev_version"]

    role = kind.one("Role", "prometheus")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = kind.one("RoleBinding", "prometheus")
    assert binding["subjects"][0]["name"] == "prometheus" and binding["roleRef"]["name"] == "prometheus"
    pod = kind.one("Deployment", "prometheus")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "prometheus"


def test_load_generator_ships_every_locustfile_and_the_holdout_rows(kind: ProgramRun, holdout_file: Path) -> None:
    files = kind.one("ConfigMap", "locust-files")["data"]
    master = kind.one("Deployment", "locust-master")["spec"]["template"]["spec"]
    (volume,) = [v for v in master["volumes"] if v["name"] == "locustfiles"]
    shipped = {item["path"]: files[item["key"]] for item in volume["configMap"]["items"]}
    local = {str(p.relative_to(PROJECT / "loadtests")): p.read_text(encoding="utf-8")
             for p in (PROJECT / "loadtests").rglob("*.py") if "__pycache__" not in p.parts}
    assert shipped == local and "locustfile.py" in shipped
    assert kind.one("ConfigMap", "locust-holdout")["data"]["holdout.json"] == holdout_file.read_text()

    args = master["containers"][0]["args"]
    assert "--master" in args
    assert args[args.index("--host") + 1] == kind.outputs["endpoints"]["router"]["url"]
    workers = kind.one("Deployment", "locust-worker")
    assert workers["spec"]["replicas"] == 2
    worker_args = workers["spec"]["template"]["spec"]["containers"][0]["args"]
    assert worker_args[worker_args.index("--master-host") + 1] == "locust-master.rolloutlab.svc.cluster.local"
    assert master["containers"][0]["image"] == load_image_tag()


def test_load_pods_serve_client_metrics_where_prometheus_job_load_looks(kind: ProgramRun) -> None:
    config = yaml.safe_load(kind.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    load_job = next(job for job in config["scrape_configs"] if job["job_name"] == "load")
    (keep_port,) = [r for r in load_job["relabel_configs"]
                    if r.get("source_labels") == ["__meta_kubernetes_pod_container_port_name"]]
    for name in ("locust-master", "locust-worker"):
        (container,) = kind.one("Deployment", name)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        (port,) = [p for p in container["ports"] if p["name"] == keep_port["regex"]]
        assert env["ROLLOUTLAB_EXPORTER_PORT"] == str(port["containerPort"]) == str(EXPORTER_PORT)
        assert env["ROLLOUTLAB_EXPORTER_HOST"] == "0.0.0.0" and env["ROLLOUTLAB_WORKERS"] == "2"


def test_every_pod_meets_the_restricted_pod_security_standard_the_namespace_enforces(kind: ProgramRun) -> None:
    namespace = kind.one("Namespace", "rolloutlab")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in _pod_specs(kind).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                                    "capabilities": {"drop": ["ALL"]}}, name
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= {"configMap", "emptyDir"}, name


def test_kind_stack_creates_its_cluster_and_loads_each_version_image(kind: ProgramRun) -> None:
    commands = {r.name: r.inputs for r in kind.of_type("command:local:Command")}
    create = commands["cluster-kind"]
    assert "kind create cluster" in create["create"] and "kind delete cluster" in create["delete"]
    assert create["environment"] == {"CLUSTER": "rolloutlab"}
    assert yaml.safe_load(create["stdin"])["kind"] == "Cluster"
    loads = {c["environment"]["IMAGE"] for name, c in commands.items() if name.startswith("cluster-load-")}
    assert loads == {NAMES.image("v1"), NAMES.image("v2"), load_image_tag()}
    build = commands["load-image-build"]
    assert build["environment"]["IMAGE"] == load_image_tag() and "docker build" in build["create"]
    assert build["stdin"].startswith("ARG LOCUST_VERSION\nFROM locustio/locust:${LOCUST_VERSION}")
    (provider,) = kind.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == FAKE_KUBECONFIG  # what `kind get kubeconfig` printed
    assert all(r.provider and "cluster-provider" in r.provider
               for r in kind.resources if r.typ.startswith("kubernetes:"))
    assert kind.program["cluster"].context == "kind-rolloutlab"


def test_minikube_stack_uses_minikube_for_the_cluster_and_images(holdout_file: Path) -> None:
    run = run_program("minikube", cluster="minikube", holdout=str(holdout_file), kubernetesVersion="v1.33.1")
    commands = {r.name: r.inputs for r in run.of_type("command:local:Command")}
    assert "minikube start --profile" in commands["cluster-minikube"]["create"]
    assert '--kubernetes-version="v1.33.1"' in commands["cluster-minikube"]["create"]
    assert all("minikube image load" in c["create"] for n, c in commands.items() if n.startswith("cluster-load-"))


def test_existing_stack_creates_no_cluster_and_pulls_versions_from_the_registry(holdout_file: Path) -> None:
    run = run_program("existing", cluster="existing", kubeContext="team-cluster", loadImages=False,
                      registry="registry.example.com/lab/", installEnvoyGateway=False, versions=["v2", "v1"],
                      loadImage="registry.example.com/lab/rolloutlab-load:1", loadEnv=["ROLLOUTLAB_USERS=40"],
                      holdout=str(holdout_file))
    assert run.of_type("command:local:Command") == []
    assert run.of_type("kubernetes:helm.sh/v3:Release") == []
    (provider,) = run.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "team-cluster"
    image = run.one("Deployment", NAMES.version_service("v1"))["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/lab/digits-classifier:v1"
    default = run.one("HTTPRoute", NAMES.httproute)["spec"]["rules"][-1]
    assert [ref["name"] for ref in default["backendRefs"]] == [NAMES.version_service("v2")]  # the first listed
    (worker,) = run.one("Deployment", "locust-worker")["spec"]["template"]["spec"]["containers"]
    assert worker["image"] == "registry.example.com/lab/rolloutlab-load:1"
    assert {"name": "ROLLOUTLAB_USERS", "value": "40"} in worker["env"]


def test_no_load_generator_when_load_workers_is_zero() -> None:
    run = run_program("kind", loadWorkers=0, holdout="/nonexistent/rows.json")  # rows are not read then
    assert "locust-master" not in run.objects("Deployment")
    assert run.outputs["endpoints"]["load"] is None


@pytest.mark.parametrize("config, needle", [
    ({"cluster": "k3d"}, "rolloutlab:cluster must be one of kind, minikube, existing"),
    ({"versions": ["v1", "nope"]}, "unknown model version(s) nope"),
    ({"holdout": "/nonexistent/rows.json"}, "held-out rows /nonexistent/rows.json do not exist"),
    ({"replica": 2}, "unknown config key(s) rolloutlab:replica"),
])
def test_bad_stack_config_fails_the_program_with_one_clear_line(config: dict, needle: str) -> None:
    start_mocks("kind", config)

    @pulumi.runtime.test
    def program() -> None:
        import runpy

        runpy.run_path(str(PROGRAM), run_name="__main__")

    with pytest.raises(pulumi.RunError) as caught:
        program()
    assert needle in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1 or needle.startswith("unknown model")
