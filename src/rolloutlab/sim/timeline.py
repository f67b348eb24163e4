"""One simulated run's world over time: who was served by which version, second by second (no I/O, no sleeps).

Per one-second tick and version it keeps the requests, 5xx answers, answered requests and rewards; a label
reaches its version's counter `feedback_delay` seconds after the prediction, as /feedback does live. With
sticky routing every request also keeps its end user, so per-user sums (the delta method's moments) come
from simulated users whose request counts vary, exactly like the load generator's UserMomentTracker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rolloutlab.routing import RoutingState
from rolloutlab.sim.histogram import bucket_counts
from rolloutlab.sim.traffic import Offered, sticky_assignment, user_rates
from rolloutlab.sim.world import World
from rolloutlab.stats.proportions import UserMoments


@dataclass(frozen=True)
class VersionWindow:
    """One version over one window: what Prometheus' range queries would return (exact counts)."""

    requests: float
    errors: float
    feedback: float
    reward: float
    buckets: np.ndarray | None  # latency histogram (non-cumulative, +Inf last); None when not asked for
    memory_growth: float  # resident bytes gained over the window


class Timeline:
    def __init__(self, world: World, rng: np.random.Generator, horizon_s: float) -> None:
        self.world = world
        self.rng = rng
        self.names = world.names
        self.index = {n: i for i, n in enumerate(self.names)}
        v = len(self.names)
        self.err = np.array([world.versions[n].error_rate for n in self.names])
        self.acc = np.array([world.versions[n].reward_rate for n in self.names])
        self.leak = np.array([world.versions[n].leak_bytes for n in self.names])
        self.bad = np.array([n in world.bad() for n in self.names])
        delay = world.load.feedback_delay
        self.delay = None if delay is None else int(round(delay))
        self.population = world.load.population
        self.offered = Offered(world.load, horizon_s)
        size = int(horizon_s) + 64
        self.req = np.zeros((size, v), dtype=np.int64)
        self.err_hist = np.zeros((size, v), dtype=np.int64)
        self.ok = np.zeros((size, v), dtype=np.int64)
        self.rw = np.zeros((size, v), dtype=np.int64)
        self.mirrored = np.zeros((size, v), dtype=np.int64)  # copies: counted by the server, never labelled
        self.t = 0
        self.served_before = np.zeros(v)  # answered requests per version, for memory warm-up
        self.bad_users = np.zeros(self.population, dtype=bool)
        # Sticky routing: one assignment per run (a random hash), per-request records for the user sums.
        self.assignment: np.ndarray | None = None
        self.sticky_shares: dict[str, int] | None = None
        self.user_rate: np.ndarray | None = None
        self.records: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # users, version, tick, ok&correct code

    # --- serving ----------------------------------------------------------------------------------
    def _grow(self, end: int) -> None:
        if end <= len(self.req):
            return
        extra = end - len(self.req) + 64
        for name in ("req", "err_hist", "ok", "rw", "mirrored"):
            arr = getattr(self, name)
            setattr(self, name, np.vstack([arr, np.zeros((extra, arr.shape[1]), dtype=arr.dtype)]))

    def _weights(self, state: RoutingState) -> np.ndarray:
        w = np.array([float(state.weights.get(n, 0)) for n in self.names])
        return w / w.sum()

    def serve(self, state: RoutingState, seconds: float) -> tuple[int, int]:
        """Serve `state` for `seconds` (whole ticks); returns the tick range [start, end) it covered."""
        n = int(round(seconds))
        start, end = self.t, self.t + n
        if n <= 0:
            return start, start
        self._grow(end + (self.delay or 0) + 1)
        per_tick = self.offered.ticks(self.rng, start, n)
        if state.sticky:
            self._serve_sticky(state, per_tick, start)
        else:
            counts = self.rng.multinomial(per_tick, self._weights(state))
            errors = self.rng.binomial(counts, self.err)
            ok = counts - errors
            self.req[start:end] = counts
            self.err_hist[start:end] = errors
            self.ok[start:end] = ok
            self.rw[start:end] = self.rng.binomial(ok, self.acc)
            if self.bad.any():
                k = int(ok[:, self.bad].sum())
                if k:
                    self.bad_users[self.rng.integers(self.population, size=k)] = True
        if state.mirror is not None:
            j = self.index[state.mirror.version]
            copies = self.rng.binomial(per_tick, state.mirror.percent / 100)
            self.mirrored[start:end, j] = copies
        self.served_before += self.ok[start:end].sum(axis=0)
        self.t = end
        return start, end

    def _serve_sticky(self, state: RoutingState, per_tick: np.ndarray, start: int) -> None:
        rng = self.rng
        shares = {n: int(state.weights.get(n, 0)) for n in self.names}
        if self.assignment is None or shares != self.sticky_shares:
            self.assignment = sticky_assignment(rng, self.population, shares)
            self.sticky_shares = shares
            self.user_rate = np.stack([user_rates(rng, self.population, a, self.world.user_correlation)
                                       for a in self.acc])
        total = int(per_tick.sum())
        users = rng.integers(self.population, size=total)
        version = self.assignment[users]
        tick = np.repeat(np.arange(start, start + len(per_tick)), per_tick)
        failed = rng.random(total) < self.err[version]
        correct = (~failed) & (rng.random(total) < self.user_rate[version, users])
        code = np.where(failed, 0, np.where(correct, 2, 1)).astype(np.int8)  # 0 5xx, 1 wrong, 2 right
        self.records.append((users, version, tick, code))
        v = len(self.names)
        flat = (tick - start) * v + version
        shape = (len(per_tick), v)
        size = len(per_tick) * v
        end = start + len(per_tick)
        self.req[start:end] = np.bincount(flat, minlength=size).reshape(shape)
        self.err_hist[start:end] = np.bincount(flat[failed], minlength=size).reshape(shape)
        self.ok[start:end] = self.req[start:end] - self.err_hist[start:end]
        self.rw[start:end] = np.bincount(flat[correct], minlength=size).reshape(shape)
        if self.bad.any():
            hit = self.bad[version] & ~failed
            self.bad_users[users[hit]] = True

    # --- what Prometheus would say ----------------------------------------------------------------
    def _labels(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels and rewards that arrived in ticks [a, b), per version."""
        if self.delay is None:
            zero = np.zeros(len(self.names))
            return zero, zero
        lo, hi = max(0, a - self.delay), max(0, b - self.delay)
        return self.ok[lo:hi].sum(axis=0), self.rw[lo:hi].sum(axis=0)

    def window(self, a: int, b: int, versions: set[str]) -> dict[str, VersionWindow]:
        """Each named version's counts over ticks [a, b), with a latency histogram under this window's noise."""
        requests = self.req[a:b].sum(axis=0) + self.mirrored[a:b].sum(axis=0)
        errors = self.err_hist[a:b].sum(axis=0)
        answered = self.ok[a:b].sum(axis=0) + self.mirrored[a:b].sum(axis=0)
        feedback, reward = self._labels(a, b)
        noise = self.world.noise
        shared = noise.shared_window_sigma * self.rng.standard_normal()
        out = {}
        for name in versions:
            i = self.index[name]
            n = int(requests[i])
            buckets = None
            if n:
                scale = math.exp(shared + noise.own_window_sigma * self.rng.standard_normal())
                buckets = bucket_counts(self.world.versions[name].latency.sample(self.rng, n, scale))
            out[name] = VersionWindow(float(n), float(errors[i]), float(feedback[i]), float(reward[i]), buckets,
                                      self._memory(i, float(answered[i]), b))
        return out

    def _memory(self, i: int, answered: float, b: int) -> float:
        """Resident growth over a window: a warm-up fading with requests served, plus the version's leak."""
        before = float(self.ok[:b, i].sum() + self.mirrored[:b, i].sum()) - answered
        scale = self.world.warmup_requests
        warm = self.world.warmup_bytes * scale * (math.exp(-before / scale) - math.exp(-(before + answered) / scale))
        noise = math.exp(self.world.noise.memory_sigma * self.rng.standard_normal())
        return warm * noise + self.leak[i] * answered

    def counters(self) -> dict[str, np.ndarray]:
        """Cumulative requests, labels and rewards per version now (the engine's instant counter queries)."""
        feedback, reward = self._labels(0, self.t)
        return {"requests": self.req[:self.t].sum(axis=0) + self.mirrored[:self.t].sum(axis=0),
                "feedback": feedback, "reward": reward}

    def user_moments(self) -> tuple[dict[str, UserMoments], dict[str, float]]:
        """Per-version user sums over labels arrived so far, and users exposed (sticky runs only)."""
        if not self.records:
            empty = UserMoments(0, 0, 0, 0, 0, 0)
            return {n: empty for n in self.names}, {n: 0.0 for n in self.names}
        users = np.concatenate([r[0] for r in self.records])
        version = np.concatenate([r[1] for r in self.records])
        tick = np.concatenate([r[2] for r in self.records])
        code = np.concatenate([r[3] for r in self.records])
        v, p = len(self.names), self.population
        key = version * p + users  # (version, user): a user re-assigned later counts under each version
        answered = code > 0
        exposed = np.bincount(key[answered & (tick < self.t)], minlength=v * p).reshape(v, p) > 0
        arrived = answered & (tick < self.t - (self.delay if self.delay is not None else 10**9))
        n = np.bincount(key[arrived], minlength=v * p).reshape(v, p).astype(float)
        y = np.bincount(key[arrived & (code == 2)], minlength=v * p).reshape(v, p).astype(float)
        moments = {name: UserMoments(float((n[i] > 0).sum()), float(y[i].sum()), float(n[i].sum()),
                                     float((y[i] ** 2).sum()), float((n[i] ** 2).sum()), float((y[i] * n[i]).sum()))
                   for i, name in enumerate(self.names)}
        return moments, {name: float(exposed[i].sum()) for i, name in enumerate(self.names)}

    def bad_exposure(self) -> tuple[float, float]:
        """Requests answered by a bad version so far, and distinct users who got at least one such answer."""
        return float(self.ok[:self.t, self.bad].sum()), float(self.bad_users.sum())
