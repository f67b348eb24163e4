"""The lab's Pulumi program with the real Pulumi engine on a real API server (the testbed).

In order, on one stack (pulumi up on 2 cores is slow, so the stack is deployed once for the module):
up creates and awaits everything → a second up changes nothing → a changed image is refused at
preview → a rollout's routing, recorded into the stack config, survives `preview --refresh` and
`up --refresh` (and without the record, Pulumi would revert it). The stack is the package's
(`deployed` in conftest.py): test_run_on_testbed.py runs whole scenarios on it next, and
test_stack_destroy_on_testbed.py destroys it last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from pulumi import automation as auto

from rolloutlab.infra.routing_record import record_routing
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routers.httproute import GATEWAY_GROUP, state_of
from rolloutlab.routers.service_selector import ServiceSelectorRouter
from rolloutlab.routing import RoutingState
from tests.testbed.conftest import Deployed
from tests.testbed.pulumi_project import STACK, preview, up
from tests.testbed.route_status import RouteStatusWriter
from tests.testbed.timings import record

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(900)]
NAMES = K8sNames()
VERSIONS = ["v1", "v2"]
ROUTE = ("HTTPRoute", "lab-router-route")
STABLE = ("Service", "lab-stable")


def route(api: client.ApiClient) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        GATEWAY_GROUP, "v1", NAMES.namespace, "httproutes", NAMES.httproute)


def test_pulumi_up_creates_and_awaits_every_resource(deployed: Deployed) -> None:
    changes = deployed.first_up.summary.resource_changes or {}
    assert set(changes) == {"create"} and changes["create"] >= 24, changes
    # Every resource now in Pulumi's state was created by this up (the StackReference is only read).
    state = {r["urn"] for r in deployed.stack.export_stack().deployment["resources"]}
    steps = deployed.first_steps.ops
    assert state == set(steps), f"in state without a step: {state - set(steps)}; stepped, not in state: {set(steps) - state}"
    assert {op for urn, op in steps.items() if "StackReference" not in urn} == {"create"}, steps
    apps = client.AppsV1Api(deployed.api)
    for version in VERSIONS:
        # Pulumi awaited each Deployment: it is Available as soon as `up` returns.
        status = apps.read_namespaced_deployment(NAMES.version_service(version), NAMES.namespace).status
        assert status.available_replicas == 1, f"{version}: {status}"
    assert state_of(route(deployed.api)) == RoutingState({"v1": 100, "v2": 0})
    stable = client.CoreV1Api(deployed.api).read_namespaced_service(NAMES.stable_service, NAMES.namespace)
    assert stable.spec.selector == NAMES.version_labels("v1")
    assert deployed.stack.outputs()["images"].value == {"v1": "digits-classifier:v1", "v2": "digits-classifier:v2"}


def test_a_second_up_changes_nothing(deployed: Deployed) -> None:
    with record("pulumi up (second: no change)"):
        result, steps = up(deployed.stack)
    assert set(result.summary.resource_changes or {}) <= {"same", "read"}, result.summary.resource_changes
    assert steps.changed() == {}


def test_a_changed_image_under_a_deployed_version_is_refused_at_preview(deployed: Deployed) -> None:
    deployments = client.AppsV1Api(deployed.api)
    before = {v: deployments.read_namespaced_deployment(NAMES.version_service(v), NAMES.namespace)
              for v in VERSIONS}
    deployed.stack.set_config("rolloutlab:registry", auto.ConfigValue("registry.example.com/lab"))
    try:
        with record("pulumi preview refused (changed image)"), pytest.raises(auto.CommandError) as refused:
            preview(deployed.stack)
        with pytest.raises(auto.CommandError) as refused_up:
            up(deployed.stack)
    finally:
        deployed.stack.remove_config("rolloutlab:registry")
    for error in (refused.value, refused_up.value):
        text = str(error)
        assert ("version v1 is deployed with image digits-classifier:v1 and would now get "
                "registry.example.com/lab/digits-classifier:v1") in text
        assert "version v2 is deployed with image digits-classifier:v2" in text
        assert "a version is immutable" in text and "Traceback" not in text
    for version in VERSIONS:  # nothing applied: same objects, same images, same resourceVersion
        after = deployments.read_namespaced_deployment(NAMES.version_service(version), NAMES.namespace)
        assert after.metadata.resource_version == before[version].metadata.resource_version
        assert after.spec.template.spec.containers[0].image == f"digits-classifier:{version}"
    assert deployed.stack.outputs()["images"].value["v1"] == "digits-classifier:v1"


def test_a_recorded_rollout_survives_preview_refresh_and_up_refresh(deployed: Deployed) -> None:
    promoted = RoutingState({"v1": 0, "v2": 100}, reason="canary promoted v2")
    with RouteStatusWriter(deployed.api, NAMES.namespace) as controller:
        gateway = GatewayApiRouter(client.CustomObjectsApi(deployed.api), NAMES, VERSIONS, verify_timeout=30)
        route_state = gateway.apply(promoted)
    assert (NAMES.httproute, 2) in controller.reported  # the router waited for Accepted of the patched generation
    selector = ServiceSelectorRouter(client.CoreV1Api(deployed.api), NAMES, VERSIONS)
    stable_state = selector.apply(promoted)

    # Unrecorded (as after a crash mid-run), `--refresh` would put both back on v1: Pulumi owns them.
    with record("pulumi preview --refresh (unrecorded routing)"):
        _, unrecorded = preview(deployed.stack, refresh=True)
    assert unrecorded.op_of(*ROUTE) == "update" and unrecorded.op_of(*STABLE) == "update", unrecorded.ops

    written = record_routing(STACK, deployed.work_dir, httproute=route_state, stable_service=stable_state)
    stack_file = yaml_of(deployed.work_dir / "config" / f"Pulumi.{STACK}.yaml")
    assert stack_file["config"]["rolloutlab:routing"] == written
    assert written["httproute"]["weights"] == {"v1": 0, "v2": 100} and written["httproute"]["generation"] == 1

    with record("pulumi preview --diff --refresh (recorded routing)"):
        _, recorded = preview(deployed.stack, refresh=True, diff=True)
    assert recorded.changed() == {}, f"planned changes after the record: {recorded.changed()}\n{recorded.text()[-3000:]}"
    assert recorded.refreshed, "the preview did not refresh"
    with record("pulumi up --refresh (recorded routing)"):
        result, applied = up(deployed.stack, refresh=True)
    assert applied.changed() == {}, applied.changed()
    live = route(deployed.api)
    assert state_of(live) == route_state
    assert [(b["name"], b["weight"]) for b in live["spec"]["rules"][-1]["backendRefs"]] == [("digits-classifier-v2", 100)]
    stable = client.CoreV1Api(deployed.api).read_namespaced_service(NAMES.stable_service, NAMES.namespace)
    assert stable.spec.selector == NAMES.version_labels("v2")


def yaml_of(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))

