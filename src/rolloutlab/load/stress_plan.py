"""What `rolloutlab stress` ramps and how each step is judged against the SLO (pure)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from rolloutlab.errors import LoadError
from rolloutlab.load.client_metrics import Window


@dataclass(frozen=True)
class StressPlan:
    """Steps of users at a fixed rate per user, from start_users up to max_users, step_time each."""

    start_users: int = 5
    step_users: int = 5
    max_users: int = 200
    step_time: float = 10.0
    rate_per_user: float = 5.0
    max_p95_ms: float = 250.0
    max_error_rate: float = 0.01
    min_efficiency: float = 0.8  # achieved / offered below this: the version no longer keeps up
    settle: float = 2.0  # seconds of each step not measured: users connect, queues fill
    min_requests: int = 20  # fewer in a step's window: not judged (too little to know)
    workers: int = 0
    seed: int = 42

    def __post_init__(self) -> None:
        if self.start_users < 1 or self.step_users < 1 or self.max_users < self.start_users:
            raise LoadError(f"stress steps: need 1 <= start_users ({self.start_users}) <= max_users "
                            f"({self.max_users}) and step_users >= 1 ({self.step_users})")
        if self.step_time < self.settle + 2:
            raise LoadError(f"step_time ({self.step_time:g}s) must leave at least 2s to measure after "
                            f"{self.settle:g}s of settling")
        if not 0 < self.max_error_rate < 1 or self.max_p95_ms <= 0 or self.rate_per_user <= 0:
            raise LoadError("the SLO needs max_p95_ms > 0, 0 < max_error_rate < 1 and rate_per_user > 0")

    @property
    def steps(self) -> int:
        return 1 + math.ceil((self.max_users - self.start_users) / self.step_users)

    @property
    def seconds(self) -> float:
        return self.steps * self.step_time

    def users_at(self, index: int) -> int:
        return min(self.max_users, self.start_users + index * self.step_users)

    def shape_params(self) -> dict[str, float | int]:
        return {"start_users": self.start_users, "step_users": self.step_users, "step_time": self.step_time}


@dataclass(frozen=True)
class StepResult:
    index: int
    users: float
    offered_rps: float
    achieved_rps: float
    requests: float
    failures: float
    p50_ms: float
    p95_ms: float
    cpu_percent: float  # the busiest Locust process: near 100, the generator may be the bottleneck
    seconds: float
    breaches: tuple[str, ...] = field(default_factory=tuple)
    judged: bool = True

    @property
    def ok(self) -> bool:
        return self.judged and not self.breaches

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else math.nan

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "error_rate": self.error_rate, "ok": self.ok}


def judge_step(plan: StressPlan, index: int, measured: Window) -> StepResult:
    """One step's measurements against the SLO: p95, error rate, and whether throughput kept up."""
    users = measured.users
    offered = users * plan.rate_per_user
    total = measured.total
    judged = total.requests >= plan.min_requests
    breaches: list[str] = []
    if judged:
        if total.p95_ms > plan.max_p95_ms:
            breaches.append(f"p95 {total.p95_ms:.0f} ms > {plan.max_p95_ms:g} ms")
        if total.error_rate > plan.max_error_rate:
            breaches.append(f"error rate {100 * total.error_rate:.2f}% > {100 * plan.max_error_rate:g}%")
        if offered > 0 and total.rps < plan.min_efficiency * offered:
            breaches.append(f"throughput {total.rps:.0f} of {offered:.0f} req/s offered")
    return StepResult(index, users, offered, total.rps, total.requests, total.failures, total.p50_ms, total.p95_ms,
                      measured.cpu_percent, measured.seconds, tuple(breaches), judged)
