"""RouteAndStableRouter: the HTTPRoute carries every state, the stable Service follows all-or-nothing ones.

Against the in-memory fakes of the Kubernetes APIs (tests/testbed/test_run_on_testbed.py runs it on
the real API server).
"""

from __future__ import annotations

import pytest

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import VERSION_LABEL, K8sNames
from tests.fakes.fake_kubernetes import FakeCoreV1Api, FakeCustomObjectsApi
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routers.httproute import render_httproute, state_of
from rolloutlab.routers.route_and_stable import RouteAndStableRouter, with_deployed
from rolloutlab.routers.service_selector import ServiceSelectorRouter
from rolloutlab.routing import Mirror, RoutingState, preview_rule

NAMES = K8sNames()
DEPLOYED = ("v1", "v2", "v3")


def make(stable: bool = True, v2_ready: bool = True) -> tuple[RouteAndStableRouter, FakeCustomObjectsApi, FakeCoreV1Api]:
    routes = FakeCustomObjectsApi(NAMES.gateway)
    routes.create(render_httproute(RoutingState({"v1": 100, "v2": 0, "v3": 0}), NAMES))
    core = FakeCoreV1Api()
    core.add_service(NAMES.namespace, NAMES.stable_service, NAMES.version_labels("v1"))
    for version in DEPLOYED:
        core.add_pod(NAMES.namespace, f"{version}-pod", NAMES.version_labels(version),
                     ready=v2_ready or version != "v2")
    route = GatewayApiRouter(routes, NAMES, DEPLOYED, poll_interval=0, sleep=lambda _: None)
    selector = ServiceSelectorRouter(core, NAMES, DEPLOYED) if stable else None
    return RouteAndStableRouter(route, DEPLOYED, selector), routes, core


def live_route(routes: FakeCustomObjectsApi) -> RoutingState:
    return state_of(routes.objects[(NAMES.namespace, NAMES.httproute)])


def stable_version(core: FakeCoreV1Api) -> str:
    return core.services[(NAMES.namespace, NAMES.stable_service)]["spec"]["selector"][VERSION_LABEL]


def test_states_get_every_deployed_version_at_weight_zero() -> None:
    state = RoutingState({"v2": 100}, generation=4, rules=(preview_rule("v2"),), mirror=Mirror("v1", 10))
    completed = with_deployed(state, DEPLOYED)
    assert completed == RoutingState({"v2": 100, "v1": 0, "v3": 0}, generation=4, rules=(preview_rule("v2"),),
                                     mirror=Mirror("v1", 10))
    assert with_deployed(completed, DEPLOYED) is completed


def test_a_promoted_blue_green_keeps_blue_in_the_route_at_weight_zero() -> None:
    router, routes, core = make()
    router.apply(RoutingState({"v2": 100}, reason="promoted"))
    assert live_route(routes).weights == {"v1": 0, "v2": 100, "v3": 0}  # x-model-version: v1 still routes
    assert stable_version(core) == "v2"


def test_the_stable_service_follows_the_switch_and_the_rollback_but_not_the_preview() -> None:
    router, routes, core = make()
    router.apply(RoutingState({"v1": 100, "v2": 0}, rules=(preview_rule("v2"),)))
    assert stable_version(core) == "v1" and live_route(routes).rules == (preview_rule("v2"),)
    router.apply(RoutingState({"v1": 0, "v2": 100}))
    assert stable_version(core) == "v2"
    router.apply(RoutingState({"v1": 100, "v2": 0}, reason="abort"))
    assert stable_version(core) == "v1" and live_route(routes).share("v1") == 1.0
    assert router.stable_current() is not None and router.stable_current().active() == {"v1": 100}


def test_a_split_leaves_the_stable_service_where_it_is() -> None:
    router, _, core = make()
    router.apply(RoutingState({"v1": 90, "v2": 10}))
    assert stable_version(core) == "v1"


def test_without_a_stable_service_only_the_route_moves() -> None:
    router, routes, core = make(stable=False)
    router.apply(RoutingState({"v1": 0, "v2": 100}))
    assert live_route(routes).share("v2") == 1.0 and stable_version(core) == "v1"
    assert router.stable_current() is None


def test_a_refused_stable_switch_puts_the_route_back() -> None:
    router, routes, core = make(v2_ready=False)
    with pytest.raises(RoutingError, match=r"version v2 has no ready pod.*the HTTPRoute was put back on v1 100%"):
        router.apply(RoutingState({"v1": 0, "v2": 100}))
    assert live_route(routes).weights == {"v1": 100, "v2": 0, "v3": 0} and stable_version(core) == "v1"
