"""HTTPRoute rendering (validated against the pinned Gateway API CRD schema) and GatewayApiRouter.

No cluster runs here: the router is tested against tests/fakes/fake_kubernetes.py, an in-memory fake of
the CustomObjectsApi calls it makes (merge patches, resourceVersion conflicts, a stand-in controller
reporting Accepted/ResolvedRefs). tests/integration/test_routing_cluster.py runs it on a real cluster.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import MODEL_PORT, K8sNames
from tests.fakes.fake_kubernetes import FakeCustomObjectsApi
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routers.httproute import STATE_ANNOTATION, render_httproute, state_of
from rolloutlab.routing import HeaderRule, Mirror, RoutingState, preview_rule
from tests.conftest import GATEWAY_API_CRDS

CRD = GATEWAY_API_CRDS / "httproutes.yaml"
NAMES = K8sNames()
RUNNING = {"v1", "v2", "v3"}


@cache
def httproute_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def assert_valid(route: dict[str, Any]) -> None:
    jsonschema.validate(route, httproute_schema())
    # Two CEL rules of the CRD that jsonschema cannot evaluate, checked by hand:
    rules = route["spec"]["rules"]
    assert sum(len(r.get("matches", [])) for r in rules) <= 128
    for rule in rules:
        for f in rule.get("filters", []):
            mirror = f.get("requestMirror", {})
            assert not ("percent" in mirror and "fraction" in mirror)


STATES = {
    "initial": RoutingState({"v1": 100, "v2": 0}),
    "canary": RoutingState({"v1": 90, "v2": 10}, generation=3),
    "preview": RoutingState({"v1": 100, "v2": 0}, rules=(preview_rule("v2"),)),
    "mirror": RoutingState({"v1": 100}, mirror=Mirror("v3", 20)),
    "everything": RoutingState({"v1": 50, "v2": 50, "v3": 0}, mirror=None,
                               rules=(preview_rule("v3"), HeaderRule("x-tenant", "acme.io", "v2"))),
    "sticky-ab": RoutingState({"v1": 50, "v2": 50}, sticky=True),
    "sticky-uneven": RoutingState({"v1": 95, "v2": 5, "v3": 0}, sticky=True, mirror=Mirror("v3", 10),
                                  rules=(preview_rule("v3"),)),
}


@pytest.mark.parametrize("name", list(STATES))
def test_rendered_routes_validate_against_the_gateway_api_crd(name: str) -> None:
    STATES[name].validate(RUNNING)
    assert_valid(render_httproute(STATES[name], NAMES))


def test_schema_check_is_not_vacuous() -> None:
    route = render_httproute(STATES["canary"], NAMES)
    route["spec"]["rules"][-1]["backendRefs"][0]["port"] = 70000
    with pytest.raises(jsonschema.ValidationError, match="70000 is greater than the maximum"):
        assert_valid(route)


def test_weighted_default_rule_comes_last_with_only_active_versions() -> None:
    route = render_httproute(STATES["canary"], NAMES)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    assert route["metadata"]["name"] == NAMES.httproute and route["metadata"]["namespace"] == NAMES.namespace
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": NAMES.gateway}]
    default = route["spec"]["rules"][-1]
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert [(b["name"], b["port"], b["weight"]) for b in default["backendRefs"]] == [
        ("digits-classifier-v1", MODEL_PORT, 90), ("digits-classifier-v2", MODEL_PORT, 10)]
    initial = render_httproute(STATES["initial"], NAMES)["spec"]["rules"][-1]
    assert [b["name"] for b in initial["backendRefs"]] == ["digits-classifier-v1"]


def test_version_header_rules_first_then_header_rules_in_order() -> None:
    rules = render_httproute(STATES["everything"], NAMES)["spec"]["rules"]
    headers = [(r["matches"][0].get("headers") or [{}])[0] for r in rules]
    assert [(h.get("name"), h.get("value")) for h in headers] == [
        ("x-model-version", "v1"), ("x-model-version", "v2"), ("x-model-version", "v3"),
        ("x-rolloutlab-preview", "1"), ("x-tenant", "acme.io"), (None, None)]
    assert [r["backendRefs"][0]["name"][-2:] for r in rules[:5]] == ["v1", "v2", "v3", "v3", "v2"]
    assert all(h.get("type", "Exact") == "Exact" for h in headers)


def test_mirror_filter_only_on_the_weighted_rule() -> None:
    rules = render_httproute(STATES["mirror"], NAMES)["spec"]["rules"]
    assert all("filters" not in r for r in rules[:-1])
    assert rules[-1]["filters"] == [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": "digits-classifier-v3", "port": MODEL_PORT},
        "percent": 20}}]


def test_state_travels_in_an_annotation() -> None:
    state = STATES["everything"].with_generation(9)
    assert state_of(render_httproute(state, NAMES)) == state


def test_what_an_httproute_cannot_express_is_refused() -> None:
    many = RoutingState({f"v{i}": 1 for i in range(16)})
    with pytest.raises(RoutingError, match="needs 17 HTTPRoute rules"):
        render_httproute(many, NAMES)
    with pytest.raises(RoutingError, match="'digits-classifier-v1.5', which is not a DNS-1035 label"):
        render_httproute(RoutingState({"v1.5": 1}), NAMES)


# --- the router, against the fake API ---------------------------------------------------------

def make_router(controller: str = "accept") -> tuple[GatewayApiRouter, FakeCustomObjectsApi, list[float]]:
    api = FakeCustomObjectsApi(gateway=NAMES.gateway, controller=controller)
    api.create(render_httproute(RoutingState({"v1": 100, "v2": 0}), NAMES))  # as the Pulumi stack does
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    router = GatewayApiRouter(api, NAMES, RUNNING, verify_timeout=5, sleep=sleep, clock=lambda: now[0])
    return router, api, now


def stored(api: FakeCustomObjectsApi) -> dict[str, Any]:
    return api.objects[(NAMES.namespace, NAMES.httproute)]


def test_apply_patches_the_route_and_returns_the_new_generation() -> None:
    router, api, _ = make_router()
    applied = router.apply(RoutingState({"v1": 90, "v2": 10}, rules=(preview_rule("v2"),), reason="canary"))
    assert applied.generation == 1
    assert router.current() == applied
    (patch,) = api.patches
    assert patch["metadata"]["resourceVersion"] == "101"  # the precondition: nobody changed it meanwhile
    assert set(patch) == {"metadata", "spec"} and set(patch["spec"]) == {"rules"}
    route = stored(api)
    assert_valid({k: v for k, v in route.items() if k != "status"})
    weights = [(b["name"], b["weight"]) for b in route["spec"]["rules"][-1]["backendRefs"]]
    assert weights == [("digits-classifier-v1", 90), ("digits-classifier-v2", 10)]
    assert route["spec"]["parentRefs"][0]["name"] == NAMES.gateway  # untouched by the patch
    assert router.apply(RoutingState({"v1": 0, "v2": 100})).generation == 2


def test_invalid_state_never_reaches_the_api() -> None:
    router, api, _ = make_router()
    with pytest.raises(RoutingError, match="'v9', which is not running"):
        router.apply(RoutingState({"v9": 1}))
    with pytest.raises(RoutingError, match="HTTPRoute (rules|matches)"):
        router.apply(RoutingState({"v1": 1, "v2": 1}, sticky=True,
                                  rules=tuple(HeaderRule("x-tenant", f"t{i}", "v2") for i in range(30))))
    assert api.patches == [] and router.current().weights == {"v1": 100, "v2": 0}


def test_a_route_the_controller_rejects_is_rolled_back() -> None:
    router, api, _ = make_router(controller="reject")
    before = stored(api)["spec"]["rules"]
    with pytest.raises(RoutingError, match=r"generation 1 not live: Accepted is False \(UnsupportedValue.*kept v1 100%"):
        router.apply(RoutingState({"v1": 50, "v2": 50}))
    assert len(api.patches) == 2  # the change, then the previous rules back
    assert stored(api)["spec"]["rules"] == before
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_a_silent_controller_times_out_and_is_rolled_back() -> None:
    router, api, now = make_router(controller="silent")
    with pytest.raises(RoutingError, match="no Gateway controller set Accepted on it for Gateway "
                                           "rolloutlab/rolloutlab-gateway within 5s"):
        router.apply(RoutingState({"v1": 50, "v2": 50}))
    assert 5 <= now[0] < 6
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_without_waiting_a_state_is_live_once_stored_even_with_a_silent_controller() -> None:
    router, api, now = make_router(controller="silent")
    router.wait_accepted = False
    applied = router.apply(RoutingState({"v1": 50, "v2": 50}))
    assert applied.generation == 1 and now[0] == 0
    assert router.current().weights == {"v1": 50, "v2": 50} and len(api.patches) == 1


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (404, "Not Found", "reading HTTPRoute rolloutlab/model-route: not found"),
        (409, "Conflict", "changed by someone else meanwhile"),
        (500, "Internal Server Error", "Kubernetes API answered 500 Internal Server Error"),
        (403, "Forbidden", "answered 403 Forbidden"),
    ],
)
def test_api_failures_become_clear_routing_errors(status: int, reason: str, message: str) -> None:
    router, api, _ = make_router()
    api.fail_next = ApiException(status=status, reason=reason)
    with pytest.raises(RoutingError, match=message):
        router.apply(RoutingState({"v1": 50, "v2": 50}))
    assert api.patches == [] and router.current().weights == {"v1": 100, "v2": 0}


def test_a_concurrent_change_is_refused_not_overwritten() -> None:
    router, api, _ = make_router()
    original_get = api.get_namespaced_custom_object

    def get_then_someone_else_patches(*args: Any, **kwargs: Any) -> dict[str, Any]:
        route = original_get(*args, **kwargs)
        api.get_namespaced_custom_object = original_get  # only once
        stored(api)["metadata"]["resourceVersion"] = "999"
        return route

    api.get_namespaced_custom_object = get_then_someone_else_patches  # type: ignore[method-assign]
    with pytest.raises(RoutingError, match="conflict"):
        router.apply(RoutingState({"v1": 50, "v2": 50}))
    assert api.patches == []


def test_a_route_not_made_by_rolloutlab_is_named() -> None:
    router, api, _ = make_router()
    del stored(api)["metadata"]["annotations"][STATE_ANNOTATION]
    with pytest.raises(RoutingError, match="has no rolloutlab.dev/routing-state annotation"):
        router.current()
