"""Client metrics: exporter text → snapshots → windows (rates, failures, p95 per served version)."""

from __future__ import annotations

import math

import pytest

from rolloutlab.load.client_metrics import Snapshot, histogram_quantile, parse_exposition, window

TEXT = """\
# TYPE rolloutlab_client_requests counter
rolloutlab_client_requests_total{served_version="v1",outcome="ok"} 90.0
rolloutlab_client_requests_total{served_version="v1",outcome="http_5xx"} 10.0
rolloutlab_client_requests_total{served_version="v2",outcome="ok"} 50.0
rolloutlab_client_requests_created{served_version="v1",outcome="ok"} 1.7e9
# TYPE rolloutlab_client_request_duration_seconds histogram
rolloutlab_client_request_duration_seconds_bucket{served_version="v1",le="0.01"} 50.0
rolloutlab_client_request_duration_seconds_bucket{served_version="v1",le="0.1"} 100.0
rolloutlab_client_request_duration_seconds_bucket{served_version="v1",le="+Inf"} 100.0
rolloutlab_client_request_duration_seconds_bucket{served_version="v2",le="0.01"} 50.0
rolloutlab_client_request_duration_seconds_bucket{served_version="v2",le="0.1"} 50.0
rolloutlab_client_request_duration_seconds_bucket{served_version="v2",le="+Inf"} 50.0
# TYPE rolloutlab_client_feedback counter
rolloutlab_client_feedback_total{version="v1",outcome="accepted"} 80.0
# TYPE rolloutlab_client_users gauge
rolloutlab_client_users 10.0
# TYPE rolloutlab_load_target_users gauge
rolloutlab_load_target_users 12.0
# TYPE rolloutlab_client_cpu_percent gauge
rolloutlab_client_cpu_percent 37.5
"""


def test_exposition_is_read_per_version_and_outcome() -> None:
    snap = parse_exposition(TEXT)
    assert snap.requests == {("v1", "ok"): 90, ("v1", "http_5xx"): 10, ("v2", "ok"): 50}
    assert snap.buckets["v1"] == {0.01: 50, 0.1: 100, math.inf: 100}
    assert snap.feedback == {("v1", "accepted"): 80}
    assert (snap.users, snap.target_users, snap.cpu_percent, snap.answered) == (10, 12, [37.5], 1)


def test_processes_add_up() -> None:
    total = Snapshot()
    total.add(parse_exposition(TEXT))
    total.add(parse_exposition(TEXT))
    assert total.requests[("v1", "ok")] == 180 and total.buckets["v2"][0.01] == 100
    assert (total.users, total.answered, total.cpu_percent) == (20, 2, [37.5, 37.5])


@pytest.mark.parametrize(("q", "expected"), [(0.5, 0.01), (0.25, 0.005), (0.95, 0.091), (1.0, 0.1)])
def test_quantile_interpolates_inside_the_bucket_like_prometheus(q: float, expected: float) -> None:
    assert histogram_quantile(q, {0.01: 50, 0.1: 100, math.inf: 100}) == pytest.approx(expected)


def test_quantile_beyond_the_last_finite_bucket_is_that_bound_and_empty_is_nan() -> None:
    assert histogram_quantile(0.99, {0.01: 1, 0.1: 1, math.inf: 10}) == 0.1
    assert math.isnan(histogram_quantile(0.5, {0.1: 0, math.inf: 0}))
    assert math.isnan(histogram_quantile(0.5, {}))


def test_window_gives_rates_failures_and_p95_of_what_happened_in_between() -> None:
    before = Snapshot(at=100.0)
    after = parse_exposition(TEXT)
    after.at = 110.0
    w = window(before, after)
    assert w.seconds == 10
    assert w.total.requests == 150 and w.total.failures == 10 and w.total.rps == 15
    assert w.versions["v1"].rps == 10 and w.versions["v1"].error_rate == pytest.approx(0.1)
    assert w.versions["v2"].p95_ms == pytest.approx(9.5)
    assert w.outcomes == {"ok": 140, "http_5xx": 10} and w.feedback == {"accepted": 80}
    assert w.cpu_percent == 37.5
    # The same reading twice: nothing happened in between.
    again = parse_exposition(TEXT)
    again.at = 111.0
    quiet = window(after, again)
    assert quiet.total.requests == 0 and quiet.versions == {} and math.isnan(quiet.total.p95_ms)
