"""The lab on a real node: its images as pods, real traffic through Traefik, the in-cluster Prometheus.

One `node_lab` for the session (tests/node/conftest.py); the tests run in file order and change the
route, so each one applies the state it needs first. test_9_teardown.py then destroys the stack and stops the node.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from kubernetes import client, config
from scipy.stats import binomtest

from rolloutlab.k8s_names import K8sNames
from rolloutlab.metrics import queries
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routing import FORCE_HEADER, PREVIEW_HEADER, PREVIEW_VALUE, RoutingState, preview_rule
from tests.node.conftest import NAMESPACE, VERSIONS, NodeLab
from tests.node.traffic import predict, send

pytestmark = pytest.mark.node
NAMES = K8sNames(namespace=NAMESPACE)
ALPHA = 1e-3  # a correct split fails the binomial test one run in a thousand


@pytest.fixture(scope="module")
def router(node_lab: NodeLab) -> GatewayApiRouter:
    api = config.new_client_from_config(config_file=node_lab.env["KUBECONFIG"], context="realk8s")
    return GatewayApiRouter(client.CustomObjectsApi(api), NAMES, VERSIONS, verify_timeout=30)


def _settled(url: str, expected: set[str], headers: dict[str, str] | None = None, timeout: float = 20) -> float:
    """Seconds until 20 requests in a row are answered only by `expected` (a live change reached the data plane)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if set(send(url, 20, headers).versions) <= expected:
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"the gateway still sends traffic outside {expected} after {timeout} s")


def test_every_lab_pod_runs_under_the_restricted_pod_security_standard(node_lab: NodeLab) -> None:
    namespace = node_lab.kubectl("get", "namespace", NAMESPACE, "-o", "jsonpath={.metadata.labels}").stdout
    assert '"pod-security.kubernetes.io/enforce":"restricted"' in namespace
    pods = node_lab.kubectl("-n", NAMESPACE, "get", "pods", "-o",
                            "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}")
    lines = pods.stdout.split()
    ready = dict(zip(lines[::2], lines[1::2]))
    assert len(ready) == len(VERSIONS) + 1 and set(ready.values()) == {"True"}, ready  # versions + Prometheus


def test_the_first_version_takes_all_traffic_after_pulumi_up(node_lab: NodeLab) -> None:
    tally = send(node_lab.gateway_url, 60)
    assert tally.failures == [] and dict(tally.versions) == {"v1": 60}


def test_the_weighted_split_is_within_a_binomial_bound(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 80, "v2": 20}, reason="node test: 80/20"))
    _settled_to_both(node_lab.gateway_url)
    tally = send(node_lab.gateway_url, 500)
    assert tally.failures == []
    test = binomtest(tally.versions["v2"], tally.total, 0.2)
    assert test.pvalue > ALPHA, f"v2 got {tally.versions['v2']} of {tally.total} at 20 %: p = {test.pvalue:.2g}"


def _settled_to_both(url: str) -> None:
    deadline = time.monotonic() + 20
    while set(send(url, 40).versions) != {"v1", "v2"}:
        assert time.monotonic() < deadline, "the 80/20 split never reached the gateway"


def test_the_version_header_and_the_preview_rule_override_the_weights(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 100, "v2": 0}, rules=(preview_rule("v2"),), reason="node test: preview v2"))
    _settled(node_lab.gateway_url, {"v1"})
    assert dict(send(node_lab.gateway_url, 30, {FORCE_HEADER: "v2"}).versions) == {"v2": 30}
    assert dict(send(node_lab.gateway_url, 30, {PREVIEW_HEADER: PREVIEW_VALUE}).versions) == {"v2": 30}
    assert dict(send(node_lab.gateway_url, 30, {PREVIEW_HEADER: "0"}).versions) == {"v1": 30}


def test_live_reweighting_reaches_the_data_plane(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 100}, reason="node test: all v1"))
    _settled(node_lab.gateway_url, {"v1"})
    started = time.monotonic()
    router.apply(RoutingState({"v1": 0, "v2": 100}, reason="node test: all v2"))
    applied = time.monotonic() - started
    seconds = _settled(node_lab.gateway_url, {"v2"})
    print(f"re-weight 100/0 -> 0/100: router.apply {applied:.2f} s, then all v2 after {seconds:.2f} s")


def test_a_blue_green_switch_through_the_gateway_fails_no_request(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 100}, reason="node test: blue"))
    _settled(node_lab.gateway_url, {"v1"})
    answers: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as http:
            while not stop.is_set():
                try:
                    answers.append((time.monotonic(), predict(http, node_lab.gateway_url)[0]))
                except (httpx.HTTPError, KeyError) as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    switched = time.monotonic()
    router.apply(RoutingState({"v1": 0, "v2": 100}, reason="node test: green"))
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == [], f"{len(failures)} failed requests across the switch: {failures[:3]}"
    last_blue = max(t for t, v in answers if v == "v1")
    first_green = min(t for t, v in answers if v == "v2")
    assert answers[-1][1] == "v2" and last_blue - switched < 4
    print(f"blue-green switch: {len(answers)} requests, 0 failed; first v2 {first_green - switched:.2f} s and "
          f"last v1 {last_blue - switched:.2f} s after the switch began")


def _vector(node_lab: NodeLab, promql: str) -> list[dict]:
    answer = httpx.get(f"{node_lab.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", f"{promql}: {answer}"
    return answer["data"]["result"]


def test_every_promql_template_returns_one_series_per_version_from_the_in_cluster_prometheus(
        node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 50, "v2": 50}, reason="node test: both"))
    _settled_to_both(node_lab.gateway_url)
    tally = send(node_lab.gateway_url, 200)
    with httpx.Client() as http:  # labels for the answers: feedback and reward series for both versions
        for request_id, version in list(tally.request_ids.items())[:60]:
            http.post(f"{node_lab.gateway_url}/feedback", json={"request_id": request_id, "label": 0},
                      headers={FORCE_HEADER: version}, timeout=10).raise_for_status()
    time.sleep(4)  # a few 1 s scrapes
    window = 60.0
    rendered = {f"SERIES {n}": lambda v, n=n: queries.render(n, v, window) for n in queries.SERIES}
    # The drift monitor's series are not here: it runs only on the local target (a cluster run refuses drift
    # checks up front, tests/unit/test_drift_checks.py), so in-cluster they are rightly absent.
    rendered |= {f"METRICS {n}": lambda v, n=n: queries.render_metric(n, v, window)
                 for n in queries.METRICS if n not in queries.DRIFT_METRICS}
    rendered |= {f"COUNTERS {n}": lambda v, n=n: queries.render_counter(n, v) for n in queries.COUNTERS}
    rendered |= {f"GATEWAY {n}": lambda v, n=n: queries.render_gateway(n, v, window) for n in queries.GATEWAY}
    # A 5xx-only count has no series while nothing failed (the model's counter has no such code yet): empty is
    # right only if the gateway, counting independently, also saw no 5xx for that version.
    gateway_5xx = {v: float(_vector(node_lab, queries.render_gateway("gateway_errors", v, window))[0]["value"][1])
                   for v in VERSIONS}
    wrong = {}
    for name, render in rendered.items():
        for version in VERSIONS:
            result = _vector(node_lab, render(version))
            if len(result) != 1 and not (name == "SERIES errors" and result == [] and gateway_5xx[version] == 0):
                wrong[f"{name} {version}"] = result
    assert wrong == {}, f"templates without exactly one series: {wrong}"
    # By version: one series per version each. rolloutlab_routing_weight is the local NGINX exporter's; on a
    # cluster the applied weight is GATEWAY gateway_share (above).
    by_version = {n: sorted(s["metric"].get("version") for s in _vector(node_lab, queries.render_by_version(n, window)))
                  for n in queries.BY_VERSION if n != "routing_weight"}
    if not any(gateway_5xx.values()):
        assert by_version.pop("errors_per_s") == []
    assert by_version == {n: VERSIONS for n in by_version}


def test_the_gateway_metrics_are_scraped_per_version_and_show_the_applied_split(node_lab: NodeLab,
                                                                                  router: GatewayApiRouter) -> None:
    assert any(s["metric"].get("version") in VERSIONS
               for s in _vector(node_lab, 'traefik_service_requests_total{job="gateway"}'))
    router.apply(RoutingState({"v1": 80, "v2": 20}, reason="node test: 80/20 share"))
    _settled_to_both(node_lab.gateway_url)
    time.sleep(21)  # the window below holds only this split's requests
    tally = send(node_lab.gateway_url, 300)
    time.sleep(3)
    share = float(_vector(node_lab, queries.render_gateway("gateway_share", "v2", 20))[0]["value"][1])
    served = tally.versions["v2"] / tally.total
    assert abs(share - served) < 0.08, f"gateway share of v2 {share:.2f}, answered {served:.2f}"


def _feedback_reaches_the_answering_pod(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    """Each answered request's label, sent through the gateway as a client would, is accepted (200) by the
    server that answered: another pod does not know the request id."""
    router.apply(RoutingState({"v1": 100}, reason="node test: feedback"))
    _settled(node_lab.gateway_url, {"v1"})
    tally = send(node_lab.gateway_url, 20)
    with httpx.Client() as http:
        for request_id in tally.request_ids:
            answer = http.post(f"{node_lab.gateway_url}/feedback", json={"request_id": request_id, "label": 0},
                               timeout=10)
            assert answer.status_code == 200, answer.text


def test_feedback_reaches_the_pod_that_answered_with_one_replica(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    _feedback_reaches_the_answering_pod(node_lab, router)


@pytest.mark.skip(reason="not yet proven on the node: the fix (a label carries the answer's predictions, so any replica "
                         "counts it) is in main and tested with two real servers behind NGINX "
                         "(tests/integration/test_feedback_replicas.py), but this test never ran against it")
def test_feedback_reaches_the_pod_that_answered_with_two_replicas(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    deployment = f"deployment/{NAMES.version_service('v1')}"
    assert node_lab.kubectl("-n", NAMESPACE, "scale", deployment, "--replicas=2").returncode == 0
    assert node_lab.kubectl("-n", NAMESPACE, "rollout", "status", deployment, "--timeout=120s").returncode == 0
    _feedback_reaches_the_answering_pod(node_lab, router)


def test_traffic_resumes_after_the_gateway_restarts(node_lab: NodeLab, router: GatewayApiRouter) -> None:
    router.apply(RoutingState({"v1": 50, "v2": 50}, reason="node test: gateway restart"))
    _settled_to_both(node_lab.gateway_url)
    started = time.monotonic()
    node_lab.restart_gateway()
    deadline = time.monotonic() + 60
    while send(node_lab.gateway_url, 5).failures:
        assert time.monotonic() < deadline, "no traffic through the gateway 60 s after its restart"
        time.sleep(0.5)
    resumed = time.monotonic() - started
    tally = send(node_lab.gateway_url, 100)
    assert tally.failures == [] and set(tally.versions) == {"v1", "v2"}  # the route, not just the port, is back
    print(f"gateway restart: traffic resumed {resumed:.1f} s after the restart began")
