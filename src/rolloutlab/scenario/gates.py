"""The pre-deploy gates a scenario declares: which run, and the limits each judges against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfflineEvalGate(_Strict):
    """Candidate vs baseline on held-out rows, both answered by their real servers: accuracy and macro-F1."""

    enabled: bool = True
    max_accuracy_drop: float = Field(0.01, ge=0, le=1)  # absolute: candidate may be at most this below the baseline
    max_f1_drop: float = Field(0.01, ge=0, le=1)
    rows: int | None = Field(None, ge=1)  # the first N held-out rows; None: all of them


class ContractGate(_Strict):
    """The candidate's API: good rows get a valid answer, bad bodies a 4xx with a JSON error."""

    enabled: bool = True


class LatencySmokeGate(_Strict):
    """Single-row requests to baseline and candidate, interleaved so both see the same machine load."""

    enabled: bool = True
    requests: int = Field(200, ge=20, le=100_000)  # per version, after a short unmeasured warm-up
    concurrency: int = Field(4, ge=1, le=64)
    max_p95_ms: float | None = Field(None, gt=0)  # an absolute bound on the candidate's p95, when given
    max_p95_ratio: float = Field(1.5, ge=1)  # candidate p95 may be this × the baseline's ...
    tolerance_ms: float = Field(10.0, ge=0)  # ... or the baseline's + this, whichever is more
    max_error_rate: float = Field(0.0, ge=0, le=1)  # share of the candidate's requests not answered 200
    # A p95 breach is measured again this many more rounds and judged on all rounds' samples together:
    # on a busy 2-core machine one ~1 s window of two server processes can differ by 1.5× on noise alone.
    confirm_rounds: int = Field(1, ge=0, le=5)


class StressGate(_Strict):
    """A short step load (Locust, the `rolloutlab stress` machinery) on the candidate up to min_rps offered."""

    enabled: bool = False
    max_p95_ms: float = Field(300.0, gt=0)
    min_rps: float = Field(50.0, gt=0)  # the last step offers this; every step must hold the SLO
    max_error_rate: float = Field(0.01, gt=0, lt=1)
    steps: int = Field(3, ge=1, le=10)
    step_time: float = Field(5.0, ge=4, le=60)  # seconds per step; the first second of each is not measured
    rate_per_user: float = Field(5.0, gt=0, le=100)


class Gates(_Strict):
    """Every gate a scenario runs before any user traffic moves; None (or enabled: false) leaves one out."""

    offline_eval: OfflineEvalGate | None = OfflineEvalGate()
    contract: ContractGate | None = ContractGate()
    latency_smoke: LatencySmokeGate | None = LatencySmokeGate()
    stress: StressGate | None = None

    def enabled(self) -> list[str]:
        """Names of the gates that will run, in the order they run."""
        order = ("offline_eval", "contract", "latency_smoke", "stress")
        return [name for name in order if (gate := getattr(self, name)) is not None and gate.enabled]
