"""Which routing states a GatewayClass can carry, from its status.supportedFeatures."""

from __future__ import annotations

import pytest

from rolloutlab.errors import RoutingError
from rolloutlab.routers.gateway_features import MIRROR, PERCENTAGE_MIRROR, features_of, needed_features
from rolloutlab.routing import Mirror, RoutingState


def gateway_class(features: list | None) -> dict:
    status = {} if features is None else {"supportedFeatures": features}
    return {"metadata": {"name": "traefik"}, "status": status}


def test_a_mirrored_state_needs_request_mirror_and_percentage_mirror_below_100_percent() -> None:
    assert needed_features(RoutingState({"v1": 90, "v2": 10}, sticky=True)) == {"HTTPRoute"}
    assert needed_features(RoutingState({"v1": 100}, mirror=Mirror("v2", 100))) == {"HTTPRoute", MIRROR}
    assert needed_features(RoutingState({"v1": 100}, mirror=Mirror("v2", 20))) == {"HTTPRoute", MIRROR,
                                                                                   PERCENTAGE_MIRROR}


def test_a_class_without_request_mirror_refuses_shadow_naming_what_it_lists() -> None:
    features = features_of(gateway_class([{"name": "Gateway"}, {"name": "HTTPRoute"}]))
    assert features.supports(MIRROR) is False
    features.check({"HTTPRoute"})  # canary, A/B: fine
    with pytest.raises(RoutingError, match=r"shadow-slow needs HTTPRouteRequestMirror \(the state mirrors traffic "
                                           r"\(shadow, pre_switch_mirror\)\).*GatewayClass traefik does not support "
                                           r"\(it lists: Gateway, HTTPRoute\)"):
        features.check(needed_features(RoutingState({"v1": 100}, mirror=Mirror("v2", 100))), "shadow-slow")


def test_a_class_that_reports_nothing_cannot_be_trusted_with_a_mirror() -> None:
    features = features_of(gateway_class(None))
    assert features.supports(MIRROR) is None
    with pytest.raises(RoutingError, match="reports no status.supportedFeatures"):
        features.check({MIRROR})


def test_older_classes_list_feature_names_as_strings() -> None:
    assert features_of(gateway_class(["HTTPRoute", MIRROR])).supports(MIRROR) is True
