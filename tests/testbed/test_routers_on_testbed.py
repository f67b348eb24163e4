"""The Kubernetes routers against the real API server (the testbed), in a namespace of their own.

Every routing state the strategies produce is applied by the Gateway API router (HTTPRoute) and,
where it can express it, the Service-selector router, then read back from the server equal. States
the server would refuse are refused by the lab first, with its own message — and the same manifest
sent without the lab proves the server really refuses it. Concurrent writers meet a real
resourceVersion conflict. kwok makes the pods Ready; a stand-in controller writes route status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import MODEL_PORT, K8sNames
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routers.httproute import GATEWAY_GROUP, MAX_WEIGHT, render_httproute, state_of
from rolloutlab.routers.service_selector import ServiceSelectorRouter
from rolloutlab.routing import HeaderRule, Mirror, RoutingState, preview_rule
from tests.testbed.conftest import ControlPlane
from tests.testbed.route_status import RouteStatusWriter
from tests.testbed.timings import record

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(300)]
VERSIONS = ["v1", "v2", "v3"]
MANY = [f"m{i:02d}" for i in range(17)]  # more versions than an HTTPRoute rule has backendRefs

# What the strategies produce, in the order a lab would see them.
STATES = {
    "initial": RoutingState({"v1": 100, "v2": 0, "v3": 0}),
    "canary 10%": RoutingState({"v1": 90, "v2": 10, "v3": 0}),
    "canary 50%": RoutingState({"v1": 50, "v2": 50, "v3": 0}),
    "blue-green preview": RoutingState({"v1": 100, "v2": 0, "v3": 0}, rules=(preview_rule("v2"),)),
    "blue-green switch": RoutingState({"v1": 0, "v2": 100, "v3": 0}),
    "shadow": RoutingState({"v1": 0, "v2": 100, "v3": 0}, mirror=Mirror("v3", 30)),
    "a/b by header": RoutingState({"v1": 50, "v2": 50, "v3": 0},
                                  rules=(HeaderRule("x-tenant", "acme.io", "v2"), HeaderRule("x-tenant", "beta", "v3"))),
    "a/b sticky": RoutingState({"v1": 50, "v2": 50, "v3": 0}, sticky=True),
    "a/b sticky, uneven, preview": RoutingState({"v1": 95, "v2": 5, "v3": 0}, sticky=True, rules=(preview_rule("v3"),)),
    "bandit": RoutingState({"v1": 17, "v2": 33, "v3": 50}),
    "rollback": RoutingState({"v1": 100, "v2": 0, "v3": 0}),
}


def _names(namespace: str) -> K8sNames:
    return K8sNames(namespace=namespace)


@pytest.fixture(scope="module")
def api(testbed: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(testbed.kubeconfig), context="realk8s")


@pytest.fixture(scope="module")
def lab_namespace(api: client.ApiClient) -> Iterator[K8sNames]:
    """A namespace with a Deployment and Service per version, the stable Service and the initial HTTPRoute."""
    namespace = f"routers-{uuid.uuid4().hex[:6]}"
    names = _names(namespace)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    with record("routers: namespace, Deployments Ready (kwok), Services, HTTPRoute"):
        core.create_namespace({"metadata": {"name": namespace}})
        for version in [*VERSIONS, *MANY]:
            labels = names.version_labels(version)
            apps.create_namespaced_deployment(namespace, {
                "metadata": {"name": names.version_service(version), "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "model", "image": f"{names.service}:{version}"}]}}},
            })
            core.create_namespaced_service(namespace, {
                "metadata": {"name": names.version_service(version), "labels": labels},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": MODEL_PORT}]},
            })
        core.create_namespaced_service(namespace, {
            "metadata": {"name": names.stable_service},
            "spec": {"selector": names.version_labels("v1"), "ports": [{"name": "http", "port": MODEL_PORT}]},
        })
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GATEWAY_GROUP, "v1", namespace, "httproutes", render_httproute(STATES["initial"], names))
        _wait_ready_pods(core, namespace, len(VERSIONS) + len(MANY))
    yield names
    core.delete_namespace(namespace)


def _wait_ready_pods(core: client.CoreV1Api, namespace: str, count: int, timeout: float = 90) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        pods = core.list_namespaced_pod(namespace).items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if len(ready) >= count:
            return
        assert time.monotonic() < deadline, f"only {len(ready)} of {count} pods Ready after {timeout}s (kwok)"
        time.sleep(0.5)


def _route(api: client.ApiClient, names: K8sNames) -> dict[str, Any]:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        GATEWAY_GROUP, "v1", names.namespace, "httproutes", names.httproute)


def test_every_strategy_state_is_accepted_by_the_api_server_and_read_back_equal(
        api: client.ApiClient, lab_namespace: K8sNames) -> None:
    router = GatewayApiRouter(client.CustomObjectsApi(api), lab_namespace, [*VERSIONS, *MANY], verify_timeout=20)
    with RouteStatusWriter(api, lab_namespace.namespace) as controller, record("routers: every state via HTTPRoute"):
        for label, state in STATES.items():
            applied = router.apply(state)
            live = _route(api, lab_namespace)
            assert state_of(live) == applied, label
            assert live["spec"]["rules"] == render_httproute(applied, lab_namespace)["spec"]["rules"], label
            assert router.current() == applied == state.with_generation(applied.generation), label
    generations = [g for name, g in controller.reported if name == lab_namespace.httproute]
    assert len(set(generations)) >= len(STATES)  # the router waited for each generation to be Accepted


def test_the_service_selector_router_switches_all_traffic_on_the_real_server(
        api: client.ApiClient, lab_namespace: K8sNames) -> None:
    core = client.CoreV1Api(api)
    router = ServiceSelectorRouter(core, lab_namespace, VERSIONS)
    for label in ("blue-green switch", "rollback"):
        applied = router.apply(STATES[label])
        service = core.read_namespaced_service(lab_namespace.stable_service, lab_namespace.namespace)
        target = next(iter(STATES[label].active()))
        assert service.spec.selector == lab_namespace.version_labels(target), label
        assert router.current() == applied
    with pytest.raises(RoutingError, match="exactly one version may have a positive weight"):
        router.apply(STATES["canary 10%"])


def _refused_by_the_server(api: client.ApiClient, names: K8sNames, rules: list[dict[str, Any]]) -> str:
    """Send rules straight to the API server (no lab in between): the 422 it answers."""
    with pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GATEWAY_GROUP, "v1", names.namespace, "httproutes", names.httproute, {"spec": {"rules": rules}},
            _content_type="application/merge-patch+json")
    assert refused.value.status == 422, refused.value
    return str(refused.value.body)


def _rules_without_checks(state: RoutingState, names: K8sNames) -> list[dict[str, Any]]:
    """What the renderer would emit for `state` if it did not check the CRD's limits."""
    from rolloutlab.routers import httproute

    saved = (httproute.MAX_RULES, httproute.MAX_BACKEND_REFS, httproute.MAX_WEIGHT)
    httproute.MAX_RULES = httproute.MAX_BACKEND_REFS = httproute.MAX_WEIGHT = 10**9
    try:
        return render_httproute(state, names)["spec"]["rules"]
    finally:
        httproute.MAX_RULES, httproute.MAX_BACKEND_REFS, httproute.MAX_WEIGHT = saved


REFUSED = {
    "17 weighted versions": (RoutingState({v: 1 for v in MANY}), "forwards to at most 16 backends",
                             "Too many: 17: must have at most 16 items"),
    "a weight over the maximum": (RoutingState({"v1": MAX_WEIGHT + 1, "v2": 1}), "exceed the HTTPRoute maximum",
                                  "should be less than or equal to 1000000"),
    "17 rules": (RoutingState({**{v: 0 for v in MANY[:14]}, "v1": 1},
                              rules=(HeaderRule("x-a", "1", "v1"), HeaderRule("x-b", "1", "v1"))),
                 "an HTTPRoute allows 16", "must have at most 16 items"),
}


@pytest.mark.parametrize("label", list(REFUSED))
def test_a_state_the_server_would_refuse_is_refused_by_the_lab_first(
        api: client.ApiClient, lab_namespace: K8sNames, label: str) -> None:
    state, ours, theirs = REFUSED[label]
    router = GatewayApiRouter(client.CustomObjectsApi(api), lab_namespace, [*VERSIONS, *MANY], wait_accepted=False)
    before = _route(api, lab_namespace)
    with pytest.raises(RoutingError, match=ours):
        router.apply(state)
    after = _route(api, lab_namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # nothing was sent
    assert theirs in _refused_by_the_server(api, lab_namespace, _rules_without_checks(state, lab_namespace))


class _Interleaved:
    """An API whose first read is followed by another writer's change: the classic lost-update race."""

    def __init__(self, api: Any, read: str, meanwhile: Callable[[], object]) -> None:
        self._api, self._read, self._meanwhile = api, read, meanwhile

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._api, name)
        if name != self._read or self._meanwhile is None:
            return method

        def read_then_race(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
            return result
        return read_then_race


def test_concurrent_writers_on_the_route_meet_a_conflict_and_lose_nothing(
        api: client.ApiClient, lab_namespace: K8sNames) -> None:
    objects = client.CustomObjectsApi(api)
    other = GatewayApiRouter(objects, lab_namespace, VERSIONS, wait_accepted=False)
    racing = GatewayApiRouter(_Interleaved(objects, "get_namespaced_custom_object",
                                           lambda: other.apply(STATES["canary 50%"])),
                              lab_namespace, VERSIONS, wait_accepted=False)
    with pytest.raises(RoutingError, match="changed by someone else meanwhile \\(conflict\\); nothing applied"):
        racing.apply(STATES["blue-green switch"])
    winner = state_of(_route(api, lab_namespace))
    assert winner.weights == STATES["canary 50%"].weights  # the other writer's state stands, not a mix
    retried = racing.apply(STATES["blue-green switch"])
    assert retried.generation == winner.generation + 1
    assert state_of(_route(api, lab_namespace)) == retried


def test_concurrent_writers_on_the_stable_service_meet_a_conflict(
        api: client.ApiClient, lab_namespace: K8sNames) -> None:
    core = client.CoreV1Api(api)
    other = ServiceSelectorRouter(core, lab_namespace, VERSIONS)
    racing = ServiceSelectorRouter(_Interleaved(core, "read_namespaced_service",
                                                lambda: other.apply(STATES["blue-green switch"])),
                                   lab_namespace, VERSIONS)
    with pytest.raises(RoutingError, match="conflict"):
        racing.apply(STATES["rollback"])
    service = core.read_namespaced_service(lab_namespace.stable_service, lab_namespace.namespace)
    assert service.spec.selector == lab_namespace.version_labels("v2")
    racing.apply(STATES["rollback"])
    assert core.read_namespaced_service(lab_namespace.stable_service, lab_namespace.namespace).spec.selector == \
        lab_namespace.version_labels("v1")


def test_without_a_gateway_controller_the_router_times_out_says_why_and_restores(
        api: client.ApiClient, lab_namespace: K8sNames) -> None:
    objects = client.CustomObjectsApi(api)
    # A fresh route no controller ever reported on (the stand-in is not running here).
    names = K8sNames(namespace=lab_namespace.namespace, httproute="silent-route")
    objects.create_namespaced_custom_object(GATEWAY_GROUP, "v1", names.namespace, "httproutes",
                                            render_httproute(STATES["initial"], names))
    router = GatewayApiRouter(objects, names, VERSIONS, verify_timeout=2, poll_interval=0.2)
    with pytest.raises(RoutingError) as timed_out:
        router.apply(STATES["canary 10%"])
    message = str(timed_out.value)
    assert f"HTTPRoute {names.namespace}/silent-route generation 1 not live" in message
    assert f"no Gateway controller set Accepted on it for Gateway {names.namespace}/{names.gateway} within 2s" in message
    assert router.current().weights == STATES["initial"].weights  # the previous rules are back
