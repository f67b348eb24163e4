"""The drift monitor's detectors on held-out rows, undrifted and drifted by the load's own plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))

from loadgen.drift import DriftPlan  # noqa: E402

from rolloutlab.drift.attribution import attributions  # noqa: E402
from rolloutlab.drift.calibration import alpha_per_hour, calibrate, null_statistics  # noqa: E402
from rolloutlab.drift.feature_tests import feature_drift  # noqa: E402
from rolloutlab.drift.importance import impact_score, l1_distance, ndcg_at_k  # noqa: E402
from rolloutlab.drift.monitor import LogTail  # noqa: E402
from rolloutlab.drift.new_values import new_value_share  # noqa: E402
from rolloutlab.drift.reference import bin_counts, holdout, training_reference  # noqa: E402
from rolloutlab.drift.window import VersionDetectors  # noqa: E402
from rolloutlab.zoo.scripts import load_script  # noqa: E402

training = load_script("training")
ROWS = training.holdout_rows()


@pytest.fixture(scope="module")
def v1() -> VersionDetectors:
    model = training.train({"algorithm": "logistic_regression", "params": {"C": 0.0001, "max_iter": 5000}})
    return VersionDetectors(model, training_reference())


@pytest.fixture(scope="module")
def thresholds(v1: VersionDetectors):  # type: ignore[no-untyped-def]
    return calibrate(null_statistics(v1, v1.holdout, 100, windows=40, seed=1), alpha_per_hour(4320))


def window(kind: str | None, n: int = 100, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(ROWS), size=n)
    if kind is None:
        return np.array([ROWS[i]["features"] for i in rows])
    plan = DriftPlan(kind, onset=0, seed=seed)
    return np.array([plan.apply(ROWS, int(i), 0, k, 1.0).features for k, i in enumerate(rows)])


def test_the_vectorised_chi2_agrees_with_scipy() -> None:
    reference = training_reference()
    x = window("brightness")
    result = feature_drift(reference, x)
    counts = bin_counts(x)
    for j in (10, 20, 36, 60):
        table = np.stack([reference.counts[j], counts[j]])
        table = table[:, table.sum(axis=0) > 0]
        assert result.p_values[j] == pytest.approx(chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    assert (result.p_values[reference.constant] == 1).all()


def test_linear_attributions_are_exact_logit_differences(v1: VersionDetectors) -> None:
    x, _ = holdout()
    model, mean = v1.model, v1.reference.mean
    attr = attributions(model, x[:5], mean)
    k = np.searchsorted(model.classes_, model.predict(x[:5]))
    logit = model.decision_function(x[:5])[np.arange(5), k]
    at_mean = model.decision_function(mean[None, :])[0, k]
    assert np.allclose(attr.sum(axis=1), logit - at_mean)


def test_occlusion_resets_one_pixel_to_the_mean() -> None:
    model = training.train({"algorithm": "knn", "params": {"n_neighbors": 3}})
    x, _ = holdout()
    mean = training_reference().mean
    attr = attributions(model, x[:3], mean)
    p = model.predict_proba(x[:3])
    k = p.argmax(axis=1)
    occluded = x[:3].copy()
    occluded[:, 7] = mean[7]
    assert np.allclose(attr[:, 7], p[np.arange(3), k] - model.predict_proba(occluded)[np.arange(3), k])


def test_rank_metrics_reach_their_bounds() -> None:
    ref = np.linspace(1, 0, 64) / np.linspace(1, 0, 64).sum()
    assert ndcg_at_k(ref, ref) == pytest.approx(1.0) and l1_distance(ref, ref) == 0
    assert ndcg_at_k(ref, ref[::-1]) < 0.3 and l1_distance(ref, ref[::-1]) > 0.5
    assert impact_score(ref, np.zeros(64)) == 0


def test_new_values_are_a_rule_of_their_own() -> None:
    reference = training_reference()
    assert new_value_share(reference, window(None)) < 0.05
    assert new_value_share(reference, window("ignored")) == 1.0


def test_undrifted_windows_stay_under_the_calibrated_thresholds(v1: VersionDetectors, thresholds) -> None:  # type: ignore[no-untyped-def]
    alarms = [name for seed in (11, 12, 13) for name, on in
              thresholds.alarms(v1.statistics(v1.facts(window(None, seed=seed)))).items() if on]
    assert alarms == []
    # The nominal 5 % level would alarm on the held-out rows' own difference from training.
    assert thresholds.values["feature_drift"] > -np.log10(0.05)


def test_ignored_pixels_alarm_the_distribution_but_not_the_attribution(v1: VersionDetectors, thresholds) -> None:  # type: ignore[no-untyped-def]
    alarms = thresholds.alarms(v1.statistics(v1.facts(window("ignored"))))
    assert alarms["new_values"] and not alarms["attribution_ndcg"] and not alarms["attribution_l1"]


def test_relied_on_strokes_move_the_attribution_and_the_estimate(v1: VersionDetectors, thresholds) -> None:  # type: ignore[no-untyped-def]
    stats = v1.statistics(v1.facts(window("strokes")))
    alarms = thresholds.alarms(stats)
    assert alarms["attribution_ndcg"] or alarms["attribution_l1"]
    assert stats["estimated_accuracy"] < v1.statistics(v1.facts(window(None)))["estimated_accuracy"]


def test_concept_shift_is_invisible_without_labels(v1: VersionDetectors, thresholds) -> None:  # type: ignore[no-untyped-def]
    assert not any(thresholds.alarms(v1.statistics(v1.facts(window("concept")))).values())


def test_the_log_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    tail = LogTail(path)
    assert tail.read() == []
    path.write_text(json.dumps({"a": 1}) + "\n" + '{"b":')
    assert tail.read() == [{"a": 1}]
    with open(path, "a") as handle:
        handle.write(" 2}\n")
    assert tail.read() == [{"b": 2}]


def test_tail_thresholds_reach_the_exponential_quantile() -> None:
    from rolloutlab.drift.calibration import tail_threshold

    sample = np.random.default_rng(0).exponential(1.0, size=20000)
    # P(X > t) = alpha for an Exponential(1) at t = ln(1/alpha).
    assert tail_threshold(sample, 1e-5) == pytest.approx(np.log(1e5), rel=0.05)
    assert tail_threshold(np.array([1.0, 1.0, 1.0]), 1e-3) == 1.0
