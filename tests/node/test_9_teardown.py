"""Last in the layer (files run in name order): `pulumi destroy` leaves nothing, then the host is as before."""

from __future__ import annotations

import os
import time

import pytest

from tests.node.conftest import NAMESPACE, NodeLab, host_state

pytestmark = pytest.mark.node


def test_pulumi_destroy_leaves_nothing_of_the_lab(node_lab: NodeLab) -> None:
    node_lab.destroy()
    deadline = time.monotonic() + 120
    while node_lab.kubectl("get", "namespace", NAMESPACE).returncode == 0:
        assert time.monotonic() < deadline, "the lab's namespace is still there 120 s after pulumi destroy"
        time.sleep(1)
    leftovers = node_lab.kubectl("get", "gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io",
                                 "-A", "-o", "name").stdout.strip()
    assert leftovers == ""
    assert node_lab.kubectl("get", "clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/part-of=rolloutlab",
                            "-o", "name").stdout.strip() == ""


def test_after_the_layer_the_host_is_as_before(node_lab: NodeLab) -> None:
    pids = [int(p.read_text()) for p in node_lab.state.rglob("*.pid") if p.read_text().strip().isdigit()]
    node_lab.teardown()
    alive = [pid for pid in pids if _alive(pid)]
    assert alive == [], f"processes of the node still running: {alive}"
    assert host_state() == node_lab.host_before


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
