"""Drift as analysis checks: the monitor's series judged like any metric (direction, threshold kinds)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rolloutlab.analysis.checks import Check
from rolloutlab.metrics.queries import render_metric


def test_attribution_agreement_is_higher_is_better_and_prediction_drift_lower() -> None:
    assert Check(metric="attribution_ndcg", min=0.9).kind == "min"
    assert Check(metric="attribution_ndcg", max_drop=0.1).relative
    assert Check(metric="prediction_drift", max_ratio=2.0, tolerance=1.0).relative
    with pytest.raises(ValidationError, match="max does not fit attribution_ndcg"):
        Check(metric="attribution_ndcg", max=0.9)
    with pytest.raises(ValidationError, match="min does not fit prediction_drift"):
        Check(metric="prediction_drift", min=1)


def test_a_drift_check_reads_the_worst_window_of_the_monitors_series() -> None:
    assert render_metric("attribution_ndcg", "v2", 15) == (
        'max(min_over_time(rolloutlab_drift_statistic{model_version="v2",detector="attribution_ndcg"}[15s]))')
    assert render_metric("feature_drift", "v1", 30).startswith("max(max_over_time(rolloutlab_drift_statistic{")


def test_a_lab_starts_the_drift_monitor_only_for_scenarios_that_need_it() -> None:
    from rolloutlab.scenario import load_scenario
    from rolloutlab.targets.local import needs_drift_monitor

    assert not needs_drift_monitor(load_scenario("canary-basic"))
    assert needs_drift_monitor(load_scenario("canary-basic", ["load.drift={kind: strokes, onset: 10s}"]))
    assert needs_drift_monitor(load_scenario("canary-basic", [
        "analysis.checks=[{metric: attribution_ndcg, max_drop: 0.1}]"]))


def test_a_cluster_run_refuses_drift_before_it_opens_a_forward_naming_each_field(tmp_path) -> None:
    from rolloutlab.errors import ClusterError
    from rolloutlab.scenario import load_scenario
    from rolloutlab.targets.kubernetes import KubernetesTarget

    class NoStack:  # prepare() must refuse before it asks the stack anything
        def outputs(self):
            raise AssertionError("the stack was read before the refusal")

    scenario = load_scenario("canary-basic", ["load.drift={kind: strokes, onset: 10s}",
                                              "analysis.checks=[{metric: attribution_ndcg, max_drop: 0.1}]"])
    target = KubernetesTarget(tmp_path, "kind", driver=NoStack())
    with pytest.raises(ClusterError, match=r"load\.drift, analysis\.checks\[0\]\.metric \(attribution_ndcg\).*local target"):
        target.prepare(scenario, print)
    assert not (tmp_path / "cluster").exists() and target.status().get("up") is not True
