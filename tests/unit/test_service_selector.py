"""ServiceSelectorRouter (Kubernetes blue-green) against an in-memory fake of CoreV1Api (no cluster here)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import VERSION_LABEL, K8sNames
from tests.fakes.fake_kubernetes import FakeCoreV1Api
from rolloutlab.routers.httproute import STATE_ANNOTATION
from rolloutlab.routers.service_selector import ServiceSelectorRouter
from rolloutlab.routing import Mirror, RoutingState, preview_rule

NAMES = K8sNames()


def make_router(v2_ready: bool = True) -> tuple[ServiceSelectorRouter, FakeCoreV1Api]:
    api = FakeCoreV1Api()
    api.add_service(NAMES.namespace, NAMES.stable_service, NAMES.version_labels("v1"))
    api.add_pod(NAMES.namespace, "v1-abc", NAMES.version_labels("v1"))
    api.add_pod(NAMES.namespace, "v2-def", NAMES.version_labels("v2"), ready=v2_ready)
    api.add_pod("elsewhere", "v2-ghi", NAMES.version_labels("v2"))  # another namespace: never counts
    return ServiceSelectorRouter(api, NAMES, {"v1", "v2"}), api


def selector(api: FakeCoreV1Api) -> dict[str, str]:
    return api.services[(NAMES.namespace, NAMES.stable_service)]["spec"]["selector"]


def test_current_state_is_read_from_the_selector_before_any_switch() -> None:
    router, _ = make_router()
    assert router.current() == RoutingState({"v1": 100, "v2": 0})


def test_switch_moves_the_selector_to_the_new_version() -> None:
    router, api = make_router()
    applied = router.apply(RoutingState({"v1": 0, "v2": 100}, reason="blue-green switch"))
    assert applied.generation == 1
    assert selector(api) == NAMES.version_labels("v2")
    (patch,) = api.patches
    assert patch["spec"] == {"selector": NAMES.version_labels("v2")}
    assert patch["metadata"]["resourceVersion"]  # refuses to overwrite a concurrent change
    assert json.loads(patch["metadata"]["annotations"][STATE_ANNOTATION])["weights"] == {"v1": 0, "v2": 100}
    assert router.current() == applied
    assert router.apply(RoutingState({"v1": 1, "v2": 0})).generation == 2
    assert selector(api)[VERSION_LABEL] == "v1"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (RoutingState({"v1": 90, "v2": 10}), "exactly one version may have a positive weight, got v1 90%, v2 10%"),
        (RoutingState({"v1": 0, "v2": 100}, rules=(preview_rule("v1"),)), "cannot carry out header rules"),
        (RoutingState({"v2": 100}, mirror=Mirror("v1", 10)), "mirroring"),
        (RoutingState({"v2": 100}, sticky=True), "sticky"),
        (RoutingState({"v3": 100}), "'v3', which is not running"),
    ],
)
def test_states_a_selector_cannot_carry_out_are_refused(state: RoutingState, message: str) -> None:
    router, api = make_router()
    with pytest.raises(RoutingError, match=message):
        router.apply(state)
    assert api.patches == [] and selector(api)[VERSION_LABEL] == "v1"


def test_no_switch_onto_a_version_without_ready_pods() -> None:
    router, api = make_router(v2_ready=False)
    with pytest.raises(RoutingError, match=r"version v2 has no ready pod .*keeps its selector"):
        router.apply(RoutingState({"v2": 100}))
    assert api.patches == [] and selector(api)[VERSION_LABEL] == "v1"


def test_api_failures_become_clear_routing_errors() -> None:
    router, api = make_router()
    api.fail_next = ApiException(status=503, reason="Service Unavailable")
    with pytest.raises(RoutingError, match="listing pods of v2: Kubernetes API answered 503"):
        router.apply(RoutingState({"v2": 100}))
    missing = ServiceSelectorRouter(api, K8sNames(stable_service="nope"), {"v1", "v2"})
    with pytest.raises(RoutingError, match="reading Service rolloutlab/nope: not found"):
        missing.current()
    assert selector(api)[VERSION_LABEL] == "v1"
