"""The simulator's histograms and histogram_quantile: Prometheus' rule, the model server's buckets."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from rolloutlab.sim.histogram import LATENCY_BUCKETS, bucket_counts, histogram_quantile, quantiles_many
from rolloutlab.sim.world import LatencyModel, histograms

PROJECT = Path(__file__).resolve().parents[2]


def test_buckets_are_the_model_servers_buckets() -> None:
    tree = ast.parse((PROJECT / "models" / "service.py").read_text(encoding="utf-8"))
    served = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", "") == "LATENCY_BUCKETS" for t in node.targets))
    assert tuple(served) == LATENCY_BUCKETS


def test_quantile_interpolates_linearly_inside_the_bucket_holding_the_rank() -> None:
    counts = np.zeros(len(LATENCY_BUCKETS) + 1)
    counts[LATENCY_BUCKETS.index(0.01)] = 10  # (0.0075, 0.01]
    counts[LATENCY_BUCKETS.index(0.02)] = 10  # (0.015, 0.02]
    # rank 0.5 × 20 = 10 is reached exactly at the end of the first filled bucket
    assert histogram_quantile(0.5, counts) == pytest.approx(0.01)
    # rank 0.95 × 20 = 19: 9 of the second bucket's 10 → 0.015 + 0.005 × 0.9
    assert histogram_quantile(0.95, counts) == pytest.approx(0.0195)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound_and_empty_is_nan() -> None:
    counts = np.zeros(len(LATENCY_BUCKETS) + 1)
    counts[-1] = 5
    assert histogram_quantile(0.99, counts) == LATENCY_BUCKETS[-1]
    assert math.isnan(histogram_quantile(0.5, np.zeros(len(LATENCY_BUCKETS) + 1)))
    assert histogram_quantile(-0.1, counts) == -math.inf and histogram_quantile(1.5, counts) == math.inf


def test_first_bucket_interpolates_from_zero() -> None:
    counts = np.zeros(len(LATENCY_BUCKETS) + 1)
    counts[0] = 4
    assert histogram_quantile(0.5, counts) == pytest.approx(0.0005)


def test_a_bound_is_inclusive_like_prometheus_le() -> None:
    counts = bucket_counts(np.array([0.005, 0.0050001]))
    assert counts[LATENCY_BUCKETS.index(0.005)] == 1 and counts[LATENCY_BUCKETS.index(0.0075)] == 1


def test_vectorised_quantiles_equal_the_scalar_rule() -> None:
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 6, (500, len(LATENCY_BUCKETS) + 1)) * (rng.random((500, len(LATENCY_BUCKETS) + 1)) < 0.4)
    counts[0] = 0
    many = quantiles_many((0.5, 0.95, 0.99), counts)
    one = np.array([[histogram_quantile(q, row) for q in (0.5, 0.95, 0.99)] for row in counts])
    np.testing.assert_allclose(many, one, equal_nan=True)


@pytest.mark.parametrize("model", [LatencyModel(), LatencyModel(fault_fraction=1.0, fault_median_ms=60, fault_sigma=0.7),
                                   LatencyModel(fault_fraction=0.02, fault_median_ms=300, fault_sigma=0.25)])
def test_drawn_histograms_match_latencies_sampled_one_by_one(model: LatencyModel) -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    drawn = histograms([model], np.array([n]), np.array([1.2]), rng, np.array(LATENCY_BUCKETS))[0] / n
    sampled = bucket_counts(model.sample(rng, n, 1.2)) / n
    np.testing.assert_allclose(drawn, sampled, atol=0.004)
