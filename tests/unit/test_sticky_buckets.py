"""Sticky A/B on Gateway API core: the user's bucket header, and the route's Exact matches per arm."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import pytest
from scipy import stats

from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.httproute import render_httproute
from rolloutlab.routers.sticky_buckets import BUCKET_HEADER, BUCKETS, bucket_ranges, bucket_value
from rolloutlab.routing import FORCE_HEADER, RoutingState, preview_rule
from rolloutlab.stats.srm import srm_check
from tests.conftest import PROJECT
from tests.unit.test_gateway_api import assert_valid

sys.path.insert(0, str(PROJECT / "loadtests"))

from loadgen import traffic  # noqa: E402

NAMES = K8sNames()
SPLITS = [{"v1": 50, "v2": 50}, {"v1": 90, "v2": 10}, {"v1": 1, "v2": 2}, {"v1": 1, "v2": 1, "v3": 1},
          {"v1": 999_999, "v2": 1}, {"a": 3, "b": 0, "c": 97}]


def routed(route: dict[str, Any], headers: dict[str, str]) -> str:
    """The version a Gateway API implementation picks for a request to "/" within this one route:
    the match with the most header matches wins, ties go to the earlier rule (the spec's precedence)."""
    best: tuple[int, int, str] | None = None
    for index, rule in enumerate(route["spec"]["rules"]):
        for match in rule["matches"]:
            wanted = match.get("headers", [])
            if all(h["type"] == "Exact" and headers.get(h["name"]) == h["value"] for h in wanted):
                candidate = (-len(wanted), index, rule["backendRefs"])
                if best is None or candidate[:2] < best[:2]:
                    best = candidate
    assert best is not None, f"no rule matches {headers}"
    refs = best[2]
    assert len(refs) == 1, f"{headers} falls through to the weighted default"
    return refs[0]["name"].removeprefix(f"{NAMES.service}-")


def test_the_load_generator_and_the_router_agree_on_the_bucket_header() -> None:
    assert (traffic.BUCKET_HEADER, traffic.BUCKETS) == (BUCKET_HEADER, BUCKETS)
    assert {traffic.bucket_of(traffic.user_id(i)) for i in range(5000)} == {bucket_value(b) for b in range(BUCKETS)}


def test_the_bucket_hash_is_uniform_over_user_ids() -> None:
    counts = Counter(traffic.bucket_of(traffic.user_id(i)) for i in range(20_000))
    result = stats.chisquare([counts[bucket_value(b)] for b in range(BUCKETS)])
    assert result.pvalue > 0.01, f"chi-square p = {result.pvalue:.3g}: buckets are not uniform"
    assert traffic.bucket_of("user-0000042") == traffic.bucket_of("user-0000042")  # stable across calls


@pytest.mark.parametrize("weights", SPLITS)
def test_bucket_ranges_cover_every_bucket_once_in_the_splits_proportions(weights: dict[str, int]) -> None:
    ranges = bucket_ranges(weights)
    assert sorted(b for r in ranges.values() for b in r) == list(range(BUCKETS))
    total = sum(weights.values())
    for version, weight in weights.items():
        assert abs(len(ranges.get(version, range(0))) - BUCKETS * weight / total) < 1


@pytest.mark.parametrize("weights", SPLITS)
def test_the_rendered_route_sends_each_bucket_to_its_arm_and_validates(weights: dict[str, int]) -> None:
    state = RoutingState(weights, sticky=True, rules=(preview_rule(sorted(weights)[-1]),))
    route = render_httproute(state, NAMES)
    assert_valid(route)
    values = [h["value"] for rule in route["spec"]["rules"] for m in rule["matches"] for h in m.get("headers", [])
              if h["name"] == BUCKET_HEADER]
    assert sorted(values) == [bucket_value(b) for b in range(BUCKETS)]  # every bucket, exactly once
    for version, buckets in bucket_ranges(weights).items():
        for bucket in buckets:
            assert routed(route, {BUCKET_HEADER: bucket_value(bucket)}) == version
            # the forced version still wins (feedback reaches the version that answered)
            other = sorted(weights)[0]
            assert routed(route, {BUCKET_HEADER: bucket_value(bucket), FORCE_HEADER: other}) == other


@pytest.mark.parametrize("weights", [{"v1": 50, "v2": 50}, {"v1": 80, "v2": 20}, {"v1": 1, "v2": 1, "v3": 1}])
def test_users_split_in_the_states_proportions_and_pass_the_srm_check(weights: dict[str, int]) -> None:
    route = render_httproute(RoutingState(weights, sticky=True), NAMES)
    users = Counter(routed(route, {BUCKET_HEADER: traffic.bucket_of(traffic.user_id(i))}) for i in range(10_000))
    total = sum(weights.values())
    result = srm_check(dict(users), {v: w / total for v, w in weights.items()})
    assert not result.mismatch, result


def test_when_a_later_arm_grows_users_only_move_towards_it() -> None:
    before, after = bucket_ranges({"v1": 90, "v2": 10}), bucket_ranges({"v1": 70, "v2": 30})
    assert set(before["v2"]) < set(after["v2"])
