"""The drift plan the load generator applies: schedule, determinism, each kind's effect; the `drift:` schema."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

from loadgen import settings  # noqa: E402
from loadgen.drift import IGNORED_PIXELS, KINDS, STROKE_PIXELS, DriftPlan, swap_label, transform  # noqa: E402

from rolloutlab.errors import ScenarioError  # noqa: E402
from rolloutlab.scenario import load_scenario  # noqa: E402
from rolloutlab.zoo.scripts import load_script  # noqa: E402
from tests.unit.test_load_schema import scenario as load_schema_scenario  # noqa: E402

training = load_script("training")
ROWS = training.holdout_rows()
X_TRAIN, X_HOLD, Y_TRAIN, Y_HOLD = training.split()


def drifted_rows(plan: DriftPlan, t: float = 1e6, n: int = len(ROWS)) -> list:
    return [plan.apply(ROWS, i, slot=0, seq=i, t=t) for i in range(n)]


def test_the_schedule_is_off_before_onset_ramps_linearly_then_holds_the_share() -> None:
    plan = DriftPlan("noise", onset=10, ramp=20, share=0.5)
    assert [plan.fraction(t) for t in (0, 9.9, 10, 20, 30, 100)] == [0, 0, 0, 0.25, 0.5, 0.5]
    assert DriftPlan("noise", onset=5).fraction(5) == 1.0


def test_the_drifted_share_follows_the_schedule() -> None:
    plan = DriftPlan("brightness", onset=0, ramp=0, share=0.3, seed=1)
    share = sum(d.drifted for d in drifted_rows(plan)) / 540
    assert 0.24 < share < 0.36
    assert not any(d.drifted for d in drifted_rows(plan, t=-1))


def test_the_same_seed_gives_the_same_drifted_requests_and_another_seed_others() -> None:
    a = [d.features for d in drifted_rows(DriftPlan("noise", onset=0, share=0.5, seed=3))]
    b = [d.features for d in drifted_rows(DriftPlan("noise", onset=0, share=0.5, seed=3))]
    c = [d.features for d in drifted_rows(DriftPlan("noise", onset=0, share=0.5, seed=4))]
    assert a == b and a != c


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("prior", "concept")])
def test_input_kinds_change_features_and_keep_labels_and_integer_pixels(kind: str) -> None:
    plan = DriftPlan(kind, onset=0, seed=2)
    out = drifted_rows(plan, n=50)
    assert all(d.drifted and d.label == ROWS[i]["label"] for i, d in enumerate(out))
    assert any(d.features != ROWS[i]["features"] for i, d in enumerate(out))
    top = 255 if kind == "units" else 16
    assert all(v == int(v) and 0 <= v <= top for d in out for v in d.features)


def test_ignored_pixels_are_the_constants_of_training_and_barely_move_accuracy() -> None:
    assert tuple(np.flatnonzero(X_TRAIN.std(axis=0) == 0)) == IGNORED_PIXELS
    x = np.array([d.features for d in drifted_rows(DriftPlan("ignored", onset=0))])
    assert (x[:, list(IGNORED_PIXELS)] == 16).all()
    model = training.train({"algorithm": "svc", "params": {"C": 10.0, "gamma": 0.001}})
    assert model.score(x, Y_HOLD) > model.score(X_HOLD, Y_HOLD) - 0.02


def test_strokes_are_the_linear_models_top_16_pixels_and_cost_accuracy() -> None:
    model = training.train({"algorithm": "logistic_regression", "params": {"C": 0.0001, "max_iter": 5000}})
    predicted = model.predict(X_TRAIN)
    attribution = np.abs(model.coef_[predicted] * (X_TRAIN - X_TRAIN.mean(axis=0))).mean(axis=0)
    assert tuple(sorted(np.argsort(-attribution)[:16])) == STROKE_PIXELS
    x = np.array([d.features for d in drifted_rows(DriftPlan("strokes", onset=0))])
    assert model.score(x, Y_HOLD) < model.score(X_HOLD, Y_HOLD) - 0.10


def test_geometric_kinds_move_the_image() -> None:
    image = [0.0] * 64
    image[3 * 8 + 2] = 16.0
    assert transform("shift", image, 1, random.Random(0)).index(16.0) == 3 * 8 + 3
    assert transform("rotate", image, 90, random.Random(0)) != image
    assert transform("rotate", image, 0, random.Random(0)) == image
    assert transform("inverted", image, None, random.Random(0))[0] == 16.0
    assert max(transform("units", [16.0] * 64, None, random.Random(0))) == 255


def test_prior_shift_makes_the_favoured_classes_four_times_as_frequent() -> None:
    plan = DriftPlan("prior", onset=0, seed=5)
    labels = Counter(plan.apply(ROWS, i % len(ROWS), 0, i, 1e6).label for i in range(20000))
    favoured = (labels[8] + labels[9]) / 2
    others = sum(labels[c] for c in range(8)) / 8
    assert 3.5 < favoured / others < 4.5


def test_concept_shift_swaps_3_and_8_in_the_feedback_only() -> None:
    out = drifted_rows(DriftPlan("concept", onset=0))
    assert all(d.features == ROWS[i]["features"] for i, d in enumerate(out))
    assert [swap_label(y, (3, 8)) for y in (3, 8, 5)] == [8, 3, 5]
    assert all(d.label == swap_label(ROWS[i]["label"], (3, 8)) for i, d in enumerate(out))


def test_the_plan_reaches_the_load_generator_through_its_environment(tmp_path: Path) -> None:
    plan = DriftPlan("rotate", onset=30, ramp=10, share=0.5, seed=9)
    loaded = settings.from_env({"ROLLOUTLAB_HOLDOUT": "h.json", "ROLLOUTLAB_DRIFT": plan.to_json()}).drift
    assert loaded == plan and loaded.strength == 20.0
    with pytest.raises(settings.SettingsError, match="ROLLOUTLAB_DRIFT"):
        settings.from_env({"ROLLOUTLAB_HOLDOUT": "h.json", "ROLLOUTLAB_DRIFT": '{"kind": "melt", "onset": 0}'})


def scenario(tmp_path: Path, drift: str) -> str:
    """A canary scenario whose load (seed 11) has this drift section (indented under `drift:`)."""
    return load_schema_scenario(tmp_path, "load:\n  seed: 11\n  drift:\n" + drift)


def test_a_drift_section_is_validated_and_handed_on_with_the_load_seed(tmp_path: Path) -> None:
    s = load_scenario(scenario(tmp_path, "    kind: brightness\n    onset: 1m\n    ramp: 30s\n    share: 0.5\n"))
    plan = DriftPlan.from_json(s.load.drift_plan_json())
    assert (plan.kind, plan.onset, plan.ramp, plan.share, plan.seed, plan.strength) == ("brightness", 60, 30, 0.5,
                                                                                         11, 0.6)


def test_drift_errors_point_at_their_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:10: load\.drift\.kind: .*'ignored'"):
        load_scenario(scenario(tmp_path, "    kind: melt\n    onset: 0s\n"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:11: load\.drift\.share: .*less than or equal to 1"):
        load_scenario(scenario(tmp_path, "    kind: noise\n    share: 2\n    onset: 0s\n"))
    with pytest.raises(ScenarioError, match=r"load\.drift: .*'strokes' takes no strength"):
        load_scenario(scenario(tmp_path, "    kind: strokes\n    onset: 0s\n    strength: 3\n"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:12: load\.drift\.colour: unknown field"):
        load_scenario(scenario(tmp_path, "    kind: noise\n    onset: 0s\n    colour: red\n"))
