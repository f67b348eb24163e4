"""GatewayClass status.supportedFeatures read from the real API server (the testbed), as a run reads it.

No Gateway controller runs on the testbed: the test creates a GatewayClass and writes its status the
way an implementation does (the status subresource), then asks what the lab may route through it.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client, config

from rolloutlab.errors import RoutingError
from rolloutlab.routers.gateway_features import MIRROR, needed_features, read_features
from rolloutlab.routers.httproute import GATEWAY_GROUP
from rolloutlab.routing import Mirror, RoutingState
from tests.testbed.conftest import ControlPlane

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(120)]
SHADOW = RoutingState({"v1": 100, "v2": 0}, mirror=Mirror("v2", 100))


def test_request_mirror_support_is_read_from_the_gateway_class_status(testbed: ControlPlane) -> None:
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(testbed.kubeconfig),
                                                                 context="realk8s"))
    name = f"features-{uuid.uuid4().hex[:6]}"
    api.create_cluster_custom_object(GATEWAY_GROUP, "v1", "gatewayclasses", {
        "apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "GatewayClass", "metadata": {"name": name},
        "spec": {"controllerName": "example.com/gateway-controller"}})
    try:
        with pytest.raises(RoutingError, match=f"GatewayClass {name} reports no status.supportedFeatures"):
            read_features(api, name).check(needed_features(SHADOW), "shadow-slow")

        def report(features: list[str]) -> None:
            api.patch_cluster_custom_object_status(GATEWAY_GROUP, "v1", "gatewayclasses", name, {
                "status": {"supportedFeatures": [{"name": f} for f in sorted(features)]}})

        report(["Gateway", "HTTPRoute", "ReferenceGrant"])
        features = read_features(api, name)
        assert features.supports("HTTPRoute") and features.supports(MIRROR) is False
        features.check(needed_features(RoutingState({"v1": 50, "v2": 50}, sticky=True)), "ab-accuracy")
        with pytest.raises(RoutingError, match=f"needs HTTPRouteRequestMirror .* GatewayClass {name} does not"):
            features.check(needed_features(SHADOW), "shadow-slow")

        report(["Gateway", "HTTPRoute", MIRROR])
        read_features(api, name).check(needed_features(SHADOW), "shadow-slow")
        with pytest.raises(RoutingError, match="HTTPRouteRequestPercentageMirror"):
            read_features(api, name).check(needed_features(RoutingState({"v1": 100}, mirror=Mirror("v2", 20))))
        with pytest.raises(RoutingError, match="reading GatewayClass missing-class: not found"):
            read_features(api, "missing-class")
    finally:
        api.delete_cluster_custom_object(GATEWAY_GROUP, "v1", "gatewayclasses", name)
