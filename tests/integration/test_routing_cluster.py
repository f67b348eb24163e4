"""Opt-in: GatewayApiRouter on a real kind cluster (Envoy Gateway), patching the stack's HTTPRoute.

Needs docker, kind, kubectl and the pulumi CLI; run with
`ROLLOUTLAB_CLUSTER_TESTS=1 .venv/bin/pytest tests/integration/test_routing_cluster.py -m cluster`.
Everywhere else the router is tested against the fake API (tests/unit/test_gateway_api.py).
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
import requests

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.factory import kubernetes_router
from rolloutlab.routing import Mirror, RoutingState
from tests.infra.test_cluster_e2e import ROW, cluster_lab  # noqa: F401  (the kind stack, up once per module)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.environ.get("ROLLOUTLAB_CLUSTER_TESTS") != "1",
                       reason="needs docker, kind, kubectl and pulumi; set ROLLOUTLAB_CLUSTER_TESTS=1"),
]


def versions_answering(url: str, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    return Counter(requests.post(f"{url}/predict", json={"instances": [ROW]}, headers=headers or {},
                                 timeout=10).json()["version"] for _ in range(n))


def test_gateway_api_router_moves_traffic_on_a_real_gateway(cluster_lab) -> None:  # noqa: F811
    _, endpoints = cluster_lab
    router = kubernetes_router("gateway-api", K8sNames(), ["v1", "v2"])
    assert router.current().weights == {"v1": 100, "v2": 0}
    applied = router.apply(RoutingState({"v1": 50, "v2": 50}, reason="cluster test"))
    assert router.current() == applied
    time.sleep(2)  # Envoy takes the new route from its control plane
    split = versions_answering(endpoints.router_url, 200)
    assert 60 < split["v2"] < 140, split
    assert versions_answering(endpoints.router_url, 10, {"x-model-version": "v1"}) == {"v1": 10}
    router.apply(RoutingState({"v1": 100, "v2": 0}, mirror=Mirror("v2", 100)))
    time.sleep(2)
    assert versions_answering(endpoints.router_url, 20) == {"v1": 20}  # the shadow's answers never come back
    with pytest.raises(RoutingError, match="sticky"):
        router.apply(RoutingState({"v1": 1}, sticky=True))
    assert router.current().mirror == Mirror("v2", 100)
