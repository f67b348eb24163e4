"""Who owns the route: the program renders the recorded routing; immutability and the chart source (under mocks).

The real-engine proof (record → `preview --diff --refresh` unchanged → `up --refresh` keeps it) is
tests/testbed/test_program_on_testbed.py; these check the rendering, the refusals and their messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from rolloutlab.errors import ClusterError
from rolloutlab.infra.config import parse_config
from rolloutlab.infra.deployed_images import changed_images
from rolloutlab.infra.gateway import chart_source
from rolloutlab.infra.routing_record import RoutingRecord, parse_routing
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.httproute import state_of
from rolloutlab.routing import RoutingState
from tests.infra.conftest import PROGRAM, CapturingMocks, Registered, run_program, start_mocks

NAMES = K8sNames()
PROMOTED = {"httproute": {"generation": 3, "weights": {"v1": 0, "v2": 100}, "rules": [], "sticky": False, "mirror": None},
            "stableService": {"generation": 2, "weights": {"v1": 0, "v2": 100}, "rules": [], "sticky": False,
                              "mirror": None}}


def test_the_program_renders_the_recorded_routing_on_the_route_and_the_stable_service() -> None:
    run = run_program("kind", loadWorkers=0, routing=PROMOTED)
    route = run.one("HTTPRoute", NAMES.httproute)
    assert state_of(route) == RoutingState({"v1": 0, "v2": 100}, generation=3)
    assert [b["name"] for b in route["spec"]["rules"][-1]["backendRefs"]] == ["digits-classifier-v2"]
    stable = run.one("Service", NAMES.stable_service)
    assert stable["spec"]["selector"] == NAMES.version_labels("v2")
    assert json.loads(stable["metadata"]["annotations"]["rolloutlab.dev/routing-state"])["generation"] == 2


def test_without_a_record_both_start_on_the_first_version() -> None:
    run = run_program("kind", loadWorkers=0)
    assert state_of(run.one("HTTPRoute", NAMES.httproute)) == RoutingState({"v1": 100, "v2": 0})
    assert run.one("Service", NAMES.stable_service)["spec"]["selector"] == NAMES.version_labels("v1")


def test_a_version_added_after_the_record_joins_the_route_at_weight_zero() -> None:
    record = parse_routing(PROMOTED, ["v1", "v2", "v3"], "rolloutlab:routing")
    assert record.route_state(["v1", "v2", "v3"]).weights == {"v1": 0, "v2": 100, "v3": 0}


def test_a_removed_version_without_traffic_leaves_the_record() -> None:
    record = parse_routing(PROMOTED, ["v2"], "rolloutlab:routing")
    assert record.route_state(["v2"]).weights == {"v2": 100}


@pytest.mark.parametrize("routing, needle", [
    ({"httproute": {"weights": {"v1": 50, "v3": 50}}},
     "stacks/Pulumi.kind.yaml: rolloutlab:routing.httproute: weights: routing state names version 'v3', which is not running"),
    ({"stableService": {"weights": {"v1": 50, "v2": 50}}}, "rolloutlab:routing.stableService: the stable Service selects exactly one"),
    ({"httprout": {}}, "rolloutlab:routing: unknown entry httprout (known: httproute, stableService)"),
    ({"httproute": {"weights": {"v1": -1}}}, "rolloutlab:routing.httproute: weights.v1: weight must be a non-negative integer"),
    ("not json", "rolloutlab:routing must be a mapping"),
])
def test_a_bad_record_names_the_key_and_what_is_wrong(routing: object, needle: str) -> None:
    raw = {"versions": '["v1", "v2"]', "routing": routing if isinstance(routing, str) else json.dumps(routing)}
    with pytest.raises(ClusterError) as caught:
        parse_config(raw, "kind")
    assert needle in str(caught.value)


def test_record_round_trips_through_config() -> None:
    record = parse_routing(PROMOTED, ["v1", "v2"], "x")
    assert record.to_config() == PROMOTED
    assert RoutingRecord().to_config() == {}


class DeployedMocks(CapturingMocks):
    """Mocks whose StackReference answers with a previous deployment's `images` output."""

    def __init__(self, images: dict[str, str]) -> None:
        super().__init__()
        self.images = images

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == "pulumi:pulumi:StackReference":
            self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
            return args.name, {"name": args.inputs["name"], "outputs": {"images": self.images},
                               "secretOutputNames": []}
        return super().new_resource(args)


def _run_against(images: dict[str, str], **config: object) -> list[str]:
    start_mocks("existing", {"cluster": "existing", "loadImages": False, "loadWorkers": 0, **config})
    mocks = DeployedMocks(images)
    pulumi.runtime.set_mocks(mocks, project="rolloutlab", stack="existing", preview=True)

    @pulumi.runtime.test
    def program() -> None:
        import runpy

        runpy.run_path(str(PROGRAM), run_name="__main__")

    program()
    return [r.typ for r in mocks.resources]


def test_a_changed_image_under_a_deployed_version_name_stops_the_program_before_any_resource() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        _run_against({"v1": "digits-classifier:v1", "v2": "digits-classifier:v2"}, registry="registry.example.com/lab")
    message = str(refused.value)
    assert ("version v1 is deployed with image digits-classifier:v1 and would now get "
            "registry.example.com/lab/digits-classifier:v1") in message
    assert "a version is immutable" in message and "new version name" in message


def test_the_same_images_and_new_versions_pass_the_check() -> None:
    registered = _run_against({"v1": "digits-classifier:v1"}, versions=["v1", "v2"])
    assert "kubernetes:apps/v1:Deployment" in registered
    assert changed_images({"v1": "a:v1", "gone": "a:gone"}, {"v1": "a:v1", "v2": "a:v2"}) == []
    assert changed_images(None, {"v1": "b:v1"}) == []


def test_the_envoy_gateway_chart_defaults_to_the_oci_registry_at_a_version_that_exists() -> None:
    config = parse_config({}, "kind")
    assert chart_source(config.envoy_gateway_chart, config.envoy_gateway_version, Path("/nowhere")) == (
        "oci://docker.io/envoyproxy/gateway-helm", "v1.9.0")


def _chart(tmp_path: Path, version: str) -> Path:
    chart = tmp_path / "gateway-helm"
    chart.mkdir()
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: gateway-helm\nversion: {version}\n")
    return chart


def test_a_local_chart_directory_is_installed_by_path_without_a_version(tmp_path: Path) -> None:
    chart = _chart(tmp_path, "v1.9.0")
    assert chart_source("gateway-helm", "v1.9.0", tmp_path) == (str(chart.resolve()), None)
    run = run_program("kind", loadWorkers=0, envoyGatewayChart=str(chart))
    (release,) = run.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == str(chart.resolve()) and "version" not in release.inputs


@pytest.mark.parametrize("version, needle", [
    ("v1.8.0", "is version v1.8.0, but rolloutlab:envoyGatewayVersion is v1.9.0"),
    (None, "no Helm chart at"),
])
def test_a_wrong_local_chart_is_refused_naming_the_key(tmp_path: Path, version: str | None, needle: str) -> None:
    chart = _chart(tmp_path, version) if version else tmp_path / "missing"
    with pytest.raises(ClusterError) as refused:
        chart_source(str(chart), "v1.9.0", tmp_path)
    assert "rolloutlab:envoyGatewayChart" in str(refused.value) and needle in str(refused.value)
