"""Fault behaviour in isolation: seeded, with the distributions the catalogue promises (and `models eval` states)."""

from __future__ import annotations

import time

import numpy as np

from rolloutlab.zoo import load_catalogue
from rolloutlab.zoo.evaluation import added_latency_ms, expected_fault_effects
from rolloutlab.zoo.scripts import load_script

faults = load_script("faults")


def injector(name: str, started: float | None = None):  # type: ignore[no-untyped-def]
    spec = load_catalogue().versions[name].faults.model_dump(mode="json", exclude_none=True)
    return faults.FaultInjector(spec, started)


def delays_ms(name: str, n: int) -> np.ndarray:
    inject = injector(name)
    return np.array([inject.delay_seconds() * 1000 for _ in range(n)])


def test_same_seed_same_misbehaviour_and_another_seed_differs() -> None:
    first, second = injector("slow"), injector("slow")
    assert [first.delay_seconds() for _ in range(50)] == [second.delay_seconds() for _ in range(50)]
    other = faults.FaultInjector({"seed": 1, "latency": {"median_ms": 60, "sigma": 0.7}})
    assert [injector("slow").delay_seconds() for _ in range(5)] != [other.delay_seconds() for _ in range(5)]


def test_slow_adds_lognormal_latency_around_its_median_with_a_long_tail() -> None:
    draws = delays_ms("slow", 20_000)
    expected = expected_fault_effects(load_catalogue().versions["slow"].faults)["added_latency_ms"]
    assert abs(np.percentile(draws, 50) - 60) < 3
    assert abs(np.percentile(draws, 99) - expected["p99"]) / expected["p99"] < 0.1
    assert np.percentile(draws, 99) > 4 * np.percentile(draws, 50)  # the long tail
    assert draws.min() > 0


def test_tail_slow_delays_only_about_two_percent_so_p95_is_untouched() -> None:
    draws = delays_ms("tail-slow", 20_000)
    share = float(np.mean(draws > 0))
    assert 0.016 < share < 0.024
    assert np.percentile(draws, 95) == 0
    assert abs(np.percentile(draws, 99) - 300) < 45  # the mixture's p99 is the slow part's median
    assert added_latency_ms(300, 0.25, 0.02, 0.95) == 0.0


def test_flaky_fails_its_rate_with_its_status_and_nothing_else() -> None:
    inject = injector("flaky")
    statuses = [inject.error_status() for _ in range(20_000)]
    failed = [s for s in statuses if s is not None]
    assert set(failed) == {503}
    assert abs(len(failed) / len(statuses) - 0.10) < 0.01
    assert inject.delay_seconds() == 0.0


def test_faults_draw_from_independent_streams() -> None:
    alone = faults.FaultInjector({"latency": {"median_ms": 10}})
    with_errors = faults.FaultInjector({"latency": {"median_ms": 10}, "errors": {"rate": 0.5}})
    sequence = []
    for _ in range(20):
        with_errors.error_status()
        sequence.append(with_errors.delay_seconds())
    assert sequence == [alone.delay_seconds() for _ in range(20)]


def test_leaky_keeps_its_kib_per_request_forever() -> None:
    inject = injector("leaky")
    for _ in range(10):
        inject.leak()
    assert inject.leaked_bytes == 10 * 64 * 1024
    assert injector("v2").leaked_bytes == 0


def test_cold_is_not_warm_until_its_seconds_have_passed() -> None:
    cold = injector("cold")
    assert cold.ready_at is None  # the clock starts at the first probe, not at construction
    assert not cold.is_warm()
    assert cold.ready_at is not None and 19.9 < cold.ready_at - time.monotonic() <= 20
    assert not injector("cold", started=time.monotonic() - 19).is_warm()
    assert injector("cold", started=time.monotonic() - 21).is_warm()
    assert injector("v2").is_warm()


def test_expected_effects_match_sampled_quantiles() -> None:
    for name in ("slow", "tail-slow"):
        spec = load_catalogue().versions[name].faults
        draws = delays_ms(name, 40_000)
        for label, quantile in (("p50", 50), ("p95", 95), ("p99", 99)):
            stated = expected_fault_effects(spec)["added_latency_ms"][label]
            sampled = float(np.percentile(draws, quantile))
            assert abs(sampled - stated) <= max(2.0, 0.12 * stated), (name, label, sampled, stated)
