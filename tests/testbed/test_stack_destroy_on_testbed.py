"""The last test of the testbed layer: `pulumi destroy` of the package's stack leaves nothing behind.

Its own module so it runs after every module that uses the stack (pytest runs a directory's modules in
name order: test_program, test_routers, test_run, then this one).
"""

from __future__ import annotations

import pytest
from kubernetes import client

from rolloutlab.k8s_names import K8sNames
from tests.testbed.conftest import ControlPlane, Deployed
from tests.testbed.timings import record

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(300)]
NAMES = K8sNames()


def test_destroy_leaves_nothing_behind(deployed: Deployed, testbed: ControlPlane) -> None:
    with record("pulumi destroy"):
        result = deployed.stack.destroy(color="never")
    deployed.destroyed = True
    assert result.summary.result == "succeeded"
    assert deployed.stack.export_stack().deployment.get("resources") in (None, [])
    namespaces = [n.metadata.name for n in client.CoreV1Api(deployed.api).list_namespace().items]
    assert NAMES.namespace not in namespaces
    leftovers = testbed.kubectl("get", "gatewayclasses,gateways,httproutes,envoyproxies", "--all-namespaces",
                                "-o", "name")
    assert leftovers.returncode == 0 and leftovers.stdout.strip() == "", leftovers.stdout + leftovers.stderr

