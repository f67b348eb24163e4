"""Offline evaluation gate: held-out rows through the baseline's and the candidate's real servers, scored."""

from __future__ import annotations

from dataclasses import dataclass

from rolloutlab.gates.client import post_json
from rolloutlab.gates.holdout import Holdout
from rolloutlab.gates.result import GateResult
from rolloutlab.scenario.gates import OfflineEvalGate

NAME = "offline_eval"
BATCH = 64  # rows per /predict request: the servers' max_batch (the contract gate checks 64 pass, 65 do not)
ATTEMPTS = 3  # a 5xx or a timeout is retried: this gate judges predictions; errors are the other gates' job


@dataclass(frozen=True)
class Scores:
    """A version's predictions on the held-out rows, scored; `problem` says why there are none."""

    version: str
    rows: int = 0
    accuracy: float | None = None
    f1: float | None = None
    retries: int = 0
    problem: str = ""


def score(version: str, url: str, holdout: Holdout) -> Scores:
    """Post every held-out row in batches to one version's /predict; accuracy and macro-F1 of its answers."""
    predictions: list[int] = []
    retries = 0
    for start in range(0, len(holdout), BATCH):
        batch = holdout.features[start:start + BATCH]
        for attempt in range(1, ATTEMPTS + 1):
            answer = post_json(version, url.rstrip("/") + "/predict", {"instances": batch})
            if 0 < answer.status < 500:
                break  # answered, well or badly: asking again would not change it
            if attempt < ATTEMPTS:
                retries += 1
        where = f"rows {start}..{start + len(batch) - 1}"
        if answer.status != 200:
            tries = f" (after {ATTEMPTS} attempts)" if answer.status == 0 or answer.status >= 500 else ""
            return Scores(version, retries=retries,
                          problem=f"{where} answered HTTP {answer.status or 'none'}{tries}: {answer.text[:80]}")
        got = answer.body.get("predictions") if isinstance(answer.body, dict) else None
        if (not isinstance(got, list) or len(got) != len(batch)
                or not all(type(p) is int for p in got)):
            return Scores(version, retries=retries,
                          problem=f"{where}: expected {len(batch)} integer predictions, got {str(got)[:60]}")
        predictions.extend(got)
    # Imported here, not at the top: scikit-learn takes seconds to import, and every CLI command (and the
    # scenario schema) imports this package.
    from sklearn.metrics import accuracy_score, f1_score

    labels = holdout.labels
    return Scores(version, len(labels), float(accuracy_score(labels, predictions)),
                  float(f1_score(labels, predictions, average="macro", zero_division=0)), retries)


def judge(gate: OfflineEvalGate, baseline: Scores, candidate: Scores) -> GateResult:
    """Pass when neither accuracy nor macro-F1 drops more than allowed below the baseline's (pure)."""
    numbers: dict[str, float | int | str | None] = {
        "rows": candidate.rows or baseline.rows, "baseline": baseline.version, "candidate": candidate.version,
        "baseline_accuracy": baseline.accuracy, "candidate_accuracy": candidate.accuracy,
        "baseline_f1": baseline.f1, "candidate_f1": candidate.f1,
        "max_accuracy_drop": gate.max_accuracy_drop, "max_f1_drop": gate.max_f1_drop,
        "retries": baseline.retries + candidate.retries,
    }
    for role, scores in (("candidate", candidate), ("baseline", baseline)):
        if scores.problem or scores.accuracy is None or scores.f1 is None:
            summary = f"{role} {scores.version} could not be evaluated: {scores.problem or 'no predictions'}"
            return GateResult(NAME, False, summary, numbers)
    assert baseline.accuracy is not None and baseline.f1 is not None  # checked above; for the type checker
    assert candidate.accuracy is not None and candidate.f1 is not None
    accuracy_drop = baseline.accuracy - candidate.accuracy
    f1_drop = baseline.f1 - candidate.f1
    numbers.update(accuracy_drop=round(accuracy_drop, 6), f1_drop=round(f1_drop, 6))
    # A hair of slack: equal scores computed two ways must not fail on the 16th decimal.
    accuracy_ok = accuracy_drop <= gate.max_accuracy_drop + 1e-9
    f1_ok = f1_drop <= gate.max_f1_drop + 1e-9
    parts = [
        _line("accuracy", candidate.accuracy, baseline.version, baseline.accuracy, accuracy_drop, gate.max_accuracy_drop),
        _line("macro-F1", candidate.f1, baseline.version, baseline.f1, f1_drop, gate.max_f1_drop),
    ]
    summary = "; ".join(parts) + f" on {numbers['rows']} held-out rows"
    return GateResult(NAME, accuracy_ok and f1_ok, summary, numbers)


def _line(metric: str, value: float, baseline: str, reference: float, drop: float, limit: float) -> str:
    if drop > limit + 1e-9:
        verdict = f"drop {drop:.3f} > {limit:.3f}"
    elif drop > 0:
        verdict = f"drop {drop:.3f} ≤ {limit:.3f}"
    else:
        verdict = f"+{-drop:.3f}"
    return f"{metric} {value:.3f} vs {baseline} {reference:.3f} ({verdict})"
