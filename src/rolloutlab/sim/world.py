"""The simulated world: per version its true reward rate, error rate, latency distribution and memory growth,
plus the traffic, users and feedback delay of the scenario's load (all as data; sampling is elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import ndtr

from rolloutlab.errors import RolloutLabError, ScenarioError
from rolloutlab.scenario.load import LoadBase
from rolloutlab.scenario import ScenarioBase
from rolloutlab.sim import measured


@dataclass(frozen=True)
class LatencyModel:
    """Served latency in seconds: base lognormal, a small stall mixture, and the version's latency fault."""

    median_ms: float = measured.BASE_MEDIAN_MS
    sigma: float = measured.BASE_SIGMA
    stall_fraction: float = measured.STALL_FRACTION
    stall_median_ms: float = measured.STALL_MEDIAN_MS
    stall_sigma: float = measured.STALL_SIGMA
    fault_fraction: float = 0.0  # the catalogue's faults.latency: a share of requests ...
    fault_median_ms: float = 0.0  # ... delayed by a lognormal(median, sigma) on top (models/faults.py)
    fault_sigma: float = 0.5

    def sample(self, rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
        """n latencies (s); `scale` multiplies the base and stalls (the window's machine noise), not the fault's
        sleep, which the server adds on top whatever the load."""
        z = rng.standard_normal((3, n))
        u = rng.random((2, n))
        seconds = (self.median_ms / 1000.0) * scale * np.exp(self.sigma * z[0])
        if self.stall_fraction > 0:
            seconds += (u[0] < self.stall_fraction) * ((self.stall_median_ms / 1000.0) * scale
                                                        * np.exp(self.stall_sigma * z[1]))
        if self.fault_fraction > 0 and self.fault_median_ms > 0:
            seconds += (u[1] < self.fault_fraction) * ((self.fault_median_ms / 1000.0)
                                                        * np.exp(self.fault_sigma * z[2]))
        return seconds


def histograms(models: list[LatencyModel], counts: np.ndarray, scales: np.ndarray, rng: np.random.Generator,
               bounds: np.ndarray) -> np.ndarray:
    """Latency histograms (pairs × len(bounds)+1, +Inf last) of counts[i] requests of models[i] at scales[i].

    Exact in distribution and cheap: requests with neither a stall nor a fault are pure lognormals, whose
    bucket probabilities are known (one multinomial draw per histogram); only the few stalled or
    fault-delayed requests are drawn one by one."""
    m = len(models)
    nb = len(bounds) + 1

    def arr(attr: str) -> np.ndarray:
        return np.array([getattr(x, attr) for x in models], dtype=float)

    stall, fault = arr("stall_fraction"), arr("fault_fraction") * (arr("fault_median_ms") > 0)
    special_p = 1 - (1 - stall) * (1 - fault)
    special = rng.binomial(counts, special_p)
    median, sigma = arr("median_ms") / 1000.0 * scales, arr("sigma")
    z = (np.log(bounds)[None, :] - np.log(median)[:, None]) / sigma[:, None]
    cdf = np.concatenate([np.zeros((m, 1)), ndtr(z), np.ones((m, 1))], axis=1)
    out = rng.multinomial(counts - special, np.clip(np.diff(cdf, axis=1), 0, None))
    total = int(special.sum())
    if total:
        owner = np.repeat(np.arange(m), special)
        # Which of stall / fault / both happened, given at least one did.
        s, f = stall[owner], fault[owner]
        u = rng.random(total) * special_p[owner]
        stalled = u < s * (1 - f) + s * f
        faulted = u >= s * (1 - f)
        zs = rng.standard_normal((3, total))
        seconds = median[owner] * np.exp(sigma[owner] * zs[0])
        seconds += stalled * (arr("stall_median_ms")[owner] / 1000.0 * scales[owner] * np.exp(arr("stall_sigma")[owner] * zs[1]))
        seconds += faulted * (arr("fault_median_ms")[owner] / 1000.0 * np.exp(arr("fault_sigma")[owner] * zs[2]))
        bucket = np.searchsorted(bounds, seconds, side="left") + owner * nb
        out += np.bincount(bucket, minlength=m * nb).reshape(m, nb)
    return out


@dataclass(frozen=True)
class VersionModel:
    name: str
    reward_rate: float  # true accuracy: P(a label arrives as a reward)
    error_rate: float = 0.0  # P(a /predict is answered 5xx)
    latency: LatencyModel = LatencyModel()
    leak_bytes: float = 0.0  # resident bytes kept per answered request, for ever
    faults: tuple[str, ...] = ()

    def bad_against(self, baseline: VersionModel) -> bool:
        """Worse for users than the baseline: any fault, or a reward rate more than half a point lower."""
        return bool(self.faults) or self.reward_rate < baseline.reward_rate - 0.005


@dataclass(frozen=True)
class Noise:
    """Window-to-window latency noise (log-sd of a multiplier) and memory-measurement noise."""

    shared_window_sigma: float = measured.SHARED_WINDOW_SIGMA
    own_window_sigma: float = measured.OWN_WINDOW_SIGMA
    memory_sigma: float = measured.MEMORY_NOISE_SIGMA


@dataclass(frozen=True)
class World:
    versions: dict[str, VersionModel]
    baseline: str
    load: LoadBase
    apply_s: float = measured.APPLY_S  # a routing change takes this long; the previous state serves meanwhile
    user_correlation: float = 0.0  # intra-user correlation of rewards (0: rows drawn independently, as live)
    load_factor: float = 1.0  # achieved / offered requests (below 1 on an overloaded machine; see calibration)
    noise: Noise = Noise()
    warmup_bytes: float = measured.WARMUP_BYTES_PER_REQUEST
    warmup_requests: float = measured.WARMUP_REQUESTS
    notes: dict[str, str] = field(default_factory=dict)  # where each true rate came from

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.versions)

    def bad(self) -> frozenset[str]:
        base = self.versions[self.baseline]
        return frozenset(n for n, v in self.versions.items() if n != self.baseline and v.bad_against(base))

    def true_rates(self) -> dict[str, float]:
        return {n: v.reward_rate for n, v in self.versions.items()}


def _known_rate(name: str, base: str | None, corrupt: bool) -> tuple[float | None, str]:
    """A version's held-out accuracy: its build in this lab's store, else the measured table."""
    try:
        from rolloutlab import zoo

        evaluation = zoo.evaluation(zoo.load_catalogue(), name)
    except (RolloutLabError, OSError):  # no store, or an unreadable one: the measured table still answers
        evaluation = None
    if evaluation is not None and evaluation.get("accuracy") is not None:
        return float(evaluation["accuracy"]), "held-out accuracy of the build in this lab's store"
    for key in (name, None if corrupt else base):
        if key is not None and key in measured.HELD_OUT_ACCURACY:
            return measured.HELD_OUT_ACCURACY[key], f"held-out accuracy measured for {key} (sim/measured.py)"
    return None, ""


def world_for(scenario: ScenarioBase, rates: dict[str, float] | None = None,
              user_correlation: float = 0.0, noise: Noise | None = None, load_factor: float = 1.0) -> World:
    """The world a scenario's versions live in, from the model catalogue (faults) and their accuracies.

    `rates` overrides true reward rates per version (e.g. to put a candidate exactly one MDE above)."""
    from rolloutlab.zoo.catalogue import load_catalogue

    catalogue = load_catalogue()
    rates = rates or {}
    models, notes, missing = {}, {}, []
    for name in scenario.versions.all:
        entry = catalogue.versions[name]
        faults = entry.faults
        base = entry.recipe_from
        if name in rates:
            rate, note = rates[name], "given"
        else:
            rate, note = _known_rate(name, base, faults.corrupt_labels is not None)
        if rate is None:
            missing.append(name)
            continue
        latency = LatencyModel()
        if faults.latency:
            latency = replace(latency, fault_fraction=faults.latency.fraction, fault_median_ms=faults.latency.median_ms,
                              fault_sigma=faults.latency.sigma)
        models[name] = VersionModel(name, rate, faults.errors.rate if faults.errors else 0.0, latency,
                                    faults.leak.kib_per_request * 1024 if faults.leak else 0.0, tuple(faults.kinds()))
        notes[name] = note
    if missing:
        raise ScenarioError(f"{scenario.name}: no reward rate known for {', '.join(missing)} (build it with "
                            "`rolloutlab models build`, or give one with --rate VERSION=RATE)")
    if not 0 <= user_correlation < 1:
        raise ScenarioError(f"user correlation must be in [0, 1), got {user_correlation}")
    if not 0 < load_factor <= 1:
        raise ScenarioError(f"load factor must be in (0, 1], got {load_factor}")
    return World(models, scenario.versions.baseline, scenario.load, user_correlation=user_correlation,
                 load_factor=load_factor, noise=noise or Noise(), notes=notes)
