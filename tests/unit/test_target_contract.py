"""The Target contract (targets/base.py): both targets offer it, the factory is the one choice, and the
cluster target's boundary turns third-party failures into the lab's own errors."""

from __future__ import annotations

import inspect
import json
import stat
from pathlib import Path

import pytest

from rolloutlab.errors import ClusterError, LoadError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.targets.base import Target
from rolloutlab.scenario import load_scenario
from rolloutlab.targets.cluster_lab import ClusterLab, gateway_class_features, mirror_use
from rolloutlab.targets.factory import target_for
from rolloutlab.targets.kubernetes import VERSION_ROLE, ClusterState, KubernetesTarget, _forward_target
from rolloutlab.targets.local import LocalTarget
from rolloutlab.targets.processes import free_port

CONTRACT = [name for name in dir(Target) if not name.startswith("_")]


@pytest.mark.parametrize("implementation", [LocalTarget, KubernetesTarget])
def test_each_target_offers_every_part_of_the_contract_with_its_signature(implementation: type) -> None:
    assert {"prepare", "endpoints", "router", "metrics", "prediction_log", "load", "retire", "describe",
            "after_run", "teardown"} <= set(CONTRACT)
    for name in CONTRACT:
        wanted = getattr(Target, name)
        offered = getattr(implementation, name, None)
        assert offered is not None, f"{implementation.__name__} lacks {name}"
        if callable(wanted):
            wanted_params = list(inspect.signature(wanted).parameters)
            offered_params = inspect.signature(offered).parameters
            assert list(offered_params)[:len(wanted_params)] == wanted_params, name
            extra = list(offered_params.values())[len(wanted_params):]
            assert all(p.default is not inspect.Parameter.empty for p in extra), name  # callable as the contract says
    for attribute in ("kind", "builds_versions", "failures_query"):
        assert getattr(implementation, attribute) is not None


def test_the_factory_is_the_one_place_that_picks_local_or_a_stack(tmp_path: Path) -> None:
    assert isinstance(target_for("local", tmp_path, keep_up=True), LocalTarget)
    cluster = target_for("kind", tmp_path, load_from="local")
    assert isinstance(cluster, KubernetesTarget) and cluster.stack == "kind" and cluster.load_from == "local"
    with pytest.raises(ClusterError, match=r"unknown target 'moon' \(targets: local, kind, minikube, existing\)"):
        target_for("moon", tmp_path)


def test_a_load_generator_that_is_gone_is_a_load_error_not_a_requests_exception(tmp_path: Path) -> None:
    target = KubernetesTarget(tmp_path, "kind")
    closed = free_port()  # nothing listens there: the port-forward to the Locust master has died
    target._save(ClusterState("kind", ports={"router": free_port(), "prometheus": free_port(), "load": closed}))
    with pytest.raises(LoadError, match=rf"the Locust master at http://127.0.0.1:{closed} could not be asked to stop: "
                                        r".*; then: the stack's outputs name no Service for the load"):
        target.stop_load()
    with pytest.raises(LoadError, match="did not answer"):
        target.start_load(10, 10.0, workers=1, timeout=0)


def test_the_pods_prediction_logs_are_read_with_kubectl_logs_keeping_only_the_log_lines(tmp_path: Path) -> None:
    record = {"ts": 1.0, "kind": "prediction", "request_id": "r1", "version": "v2", "predictions": [3]}
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args\"\n"
                       "echo '2026-12-02 INFO bentoml: serving'\n"
                       f"echo '{json.dumps(record)}'\n", encoding="utf-8")
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    target = KubernetesTarget(tmp_path / "home", "existing", kubectl=str(kubectl))
    target.lab = ClusterLab("existing", K8sNames(service="digits-classifier", namespace="lab"), ("v1", "v2"),
                            "prod-eu", False)
    log = target.prediction_log("v2")
    assert [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] == [record]
    args = (tmp_path / "args").read_text(encoding="utf-8").split()
    assert args[:4] == ["--context", "prod-eu", "--namespace", "lab"] and "logs" in args
    assert "app.kubernetes.io/name=digits-classifier,rolloutlab.dev/version=v2" in args[args.index("--selector") + 1]


def test_a_failing_kubectl_logs_is_a_cluster_error_naming_the_version(tmp_path: Path) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\necho 'error: You must be logged in' >&2\nexit 1\n", encoding="utf-8")
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    target = KubernetesTarget(tmp_path / "home", "existing", kubectl=str(kubectl))
    target.lab = ClusterLab("existing", K8sNames(service="digits-classifier", namespace="lab"), ("v1",), "", False)
    with pytest.raises(ClusterError, match="kubectl logs of v1's pods failed: error: You must be logged in"):
        target.prediction_log("v1")


def test_a_versions_own_url_on_a_cluster_is_its_forwarded_service_never_the_in_cluster_one(tmp_path: Path) -> None:
    outputs = {"endpoints": {"versions": {"v1": "http://digits-classifier-v1.lab.svc.cluster.local:3000",
                                          "v2": "http://digits-classifier-v2.lab.svc.cluster.local:3000"}}}
    assert _forward_target(outputs["endpoints"], VERSION_ROLE + "v2") == \
        {"service": "digits-classifier-v2", "namespace": "lab", "port": 3000}
    target = KubernetesTarget(tmp_path, "kind")
    target._save(ClusterState("kind", outputs=outputs, ports={"router": 1001, "prometheus": 1002}))
    assert target.endpoints().versions == {}  # not forwarded: no URL, rather than one this machine cannot reach
    target._save(ClusterState("kind", outputs=outputs, ports={"router": 1001, "prometheus": 1002,
                                                              VERSION_ROLE + "v1": 1003, VERSION_ROLE + "v2": 1004}))
    assert target.endpoints().versions == {"v1": "http://127.0.0.1:1003", "v2": "http://127.0.0.1:1004"}


class GatewayObjects:
    """The two reads check_mirroring makes (a Gateway, its GatewayClass), answered from manifests."""

    def __init__(self, features: list | None) -> None:
        self.gateway_class: dict = {"metadata": {"name": "traefik"}}
        if features is not None:
            self.gateway_class["status"] = {"supportedFeatures": features}

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> dict:
        assert (plural, namespace, name) == ("gateways", "lab", "rolloutlab-gateway")
        return {"spec": {"gatewayClassName": "traefik"}}

    def get_cluster_custom_object(self, group: str, version: str, plural: str, name: str) -> dict:
        assert (plural, name) == ("gatewayclasses", "traefik")
        return self.gateway_class


NAMES = K8sNames(service="digits-classifier", namespace="lab")


@pytest.mark.parametrize("features, expected", [
    ([{"name": "HTTPRoute"}, {"name": "HTTPRouteRequestMirror"}], ("traefik", ["HTTPRoute", "HTTPRouteRequestMirror"])),
    (["HTTPRoute"], ("traefik", ["HTTPRoute"])),  # Gateway API before v1.2 listed plain names
    (None, ("traefik", None)),
    ([], ("traefik", None)),  # an empty list says as little as none
])
def test_the_gateway_class_features_are_read_from_its_status(features: list | None, expected: tuple) -> None:
    assert gateway_class_features(GatewayObjects(features), NAMES) == expected


def test_shadow_and_pre_switch_mirror_are_the_scenarios_that_mirror() -> None:
    assert mirror_use(load_scenario("shadow-degraded")) == "a shadow evaluation"
    assert mirror_use(load_scenario("bluegreen-basic", ["pre_switch_mirror=20"])) == "pre_switch_mirror (20%)"
    assert mirror_use(load_scenario("canary-basic")) is None and mirror_use(load_scenario("ab-accuracy")) is None
