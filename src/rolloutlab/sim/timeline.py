"""Simulated runs' worlds over time: who was served by which version, second by second (no I/O, no sleeps).

One object holds a batch of runs side by side (arrays run × tick × version), so a step of many runs is a
handful of numpy calls. Per tick and version it keeps the requests, 5xx answers, answered requests and
rewards; a label reaches its version's counter `feedback_delay` seconds after the prediction, as /feedback
does live. With sticky routing each request also keeps its end user, so per-user sums (the delta method's
moments) come from simulated users whose request counts vary, like the load generator's UserMomentTracker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rolloutlab.routing import RoutingState
from rolloutlab.sim.histogram import LATENCY_BUCKETS, quantiles_many
from rolloutlab.sim.traffic import Offered, sticky_assignment, user_rates
from rolloutlab.sim.world import World, histograms
from rolloutlab.stats.proportions import UserMoments

_BOUNDS = np.array(LATENCY_BUCKETS)
_ARRAYS = ("req", "err", "ok", "rw", "mirrored")


@dataclass(frozen=True)
class VersionWindow:
    """One version over one window: what Prometheus' range queries would return (exact counts)."""

    requests: float
    errors: float
    feedback: float
    reward: float
    buckets: np.ndarray | None  # latency histogram (non-cumulative, +Inf last); None without requests
    memory_growth: float  # resident bytes gained over the window
    quantiles_s: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # histogram_quantile 0.5, 0.95, 0.99


class Timelines:
    def __init__(self, world: World, rng: np.random.Generator, horizon_s: float, runs: int = 1) -> None:
        self.world = world
        self.rng = rng
        self.names = world.names
        self.index = {n: i for i, n in enumerate(self.names)}
        self.models = [world.versions[n] for n in self.names]
        self.err_rate = np.array([m.error_rate for m in self.models])
        self.acc = np.array([m.reward_rate for m in self.models])
        self.leak = np.array([m.leak_bytes for m in self.models])
        bad = world.bad()
        self.bad = np.array([n in bad for n in self.names])
        self.any_bad = bool(self.bad.any())
        delay = world.load.feedback_delay
        self.delay = None if delay is None else int(round(delay))
        self.population = world.load.population
        self.offered = Offered(world.load, horizon_s, world.load_factor)
        size, v = int(horizon_s) + 64, len(self.names)
        for name in _ARRAYS:
            setattr(self, name, np.zeros((runs, size, v), dtype=np.int64))
        self.t = np.zeros(runs, dtype=np.int64)
        self.served = np.zeros((runs, v))  # answered requests (and mirrored copies) per version so far
        self.bad_users = np.zeros((runs, self.population), dtype=bool)
        self.assignment: dict[int, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}  # sticky runs
        self.records: dict[int, list[tuple[Any, ...]]] = {}  # sticky: (users, version, tick, code, progress)
        self.sums: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # sticky: per-user n, y, exposed

    def _grow(self, end: int) -> None:
        size = self.req.shape[1]
        if end <= size:
            return
        for name in _ARRAYS:
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.zeros((arr.shape[0], end - size + 64, arr.shape[2]),
                                                              dtype=arr.dtype)], axis=1))

    # --- serving ----------------------------------------------------------------------------------
    def serve(self, ks: list[int], states: list[RoutingState], seconds: float) -> list[tuple[int, int]]:
        """Runs `ks` each serve their state for `seconds` (whole ticks); returns each one's tick range."""
        n = int(round(seconds))
        k = np.array(ks)
        starts = self.t[k].copy()
        if n <= 0:
            return [(int(s), int(s)) for s in starts]
        self._grow(int(starts.max()) + n + (self.delay or 0) + 1)
        rows = starts[:, None] + np.arange(n)
        per_tick = self.offered.ticks(self.rng, rows)
        plain = [i for i, s in enumerate(states) if not s.sticky]
        if plain:
            p = np.array([[float(states[i].weights.get(v, 0)) for v in self.names] for i in plain])
            p /= p.sum(axis=1, keepdims=True)
            kp, rp = k[plain], rows[plain]
            counts = self.rng.multinomial(per_tick[plain], p[:, None, :])
            errors = self.rng.binomial(counts, self.err_rate)
            ok = counts - errors
            self.req[kp[:, None], rp], self.err[kp[:, None], rp], self.ok[kp[:, None], rp] = counts, errors, ok
            self.rw[kp[:, None], rp] = self.rng.binomial(ok, self.acc)
            if self.any_bad:
                hits = ok[:, :, self.bad].sum(axis=(1, 2))
                who = np.repeat(kp, hits)
                self.bad_users[who, self.rng.integers(self.population, size=len(who))] = True
        for i, state in enumerate(states):
            if state.sticky:
                self._serve_sticky(ks[i], state, per_tick[i], int(starts[i]))
            if state.mirror is not None:
                j = self.index[state.mirror.version]
                self.mirrored[ks[i], rows[i], j] = self.rng.binomial(per_tick[i], state.mirror.percent / 100)
        self.served[k] += self.ok[k[:, None], rows].sum(axis=1) + self.mirrored[k[:, None], rows].sum(axis=1)
        self.t[k] = starts + n
        return [(int(s), int(s) + n) for s in starts]

    def _serve_sticky(self, run: int, state: RoutingState, per_tick: np.ndarray, start: int) -> None:
        rng = self.rng
        shares = {n: int(state.weights.get(n, 0)) for n in self.names}
        if run not in self.assignment or self.assignment[run][0] != shares:
            rates = np.stack([user_rates(rng, self.population, a, self.world.user_correlation) for a in self.acc])
            self.assignment[run] = (shares, sticky_assignment(rng, self.population, shares), rates)
        _, assignment, rates = self.assignment[run]
        total, v, n = int(per_tick.sum()), len(self.names), len(per_tick)
        users = rng.integers(self.population, size=total)
        version = assignment[users]
        tick = np.repeat(np.arange(start, start + n), per_tick)
        failed = rng.random(total) < self.err_rate[version]
        correct = (~failed) & (rng.random(total) < rates[version, users])
        code = np.where(failed, 0, np.where(correct, 2, 1)).astype(np.int8)  # 0 5xx, 1 wrong, 2 right
        self.records.setdefault(run, []).append((users, version, tick, code, [0, False]))
        flat = (tick - start) * v + version
        end = start + n
        self.req[run, start:end] = np.bincount(flat, minlength=n * v).reshape(n, v)
        self.err[run, start:end] = np.bincount(flat[failed], minlength=n * v).reshape(n, v)
        self.ok[run, start:end] = self.req[run, start:end] - self.err[run, start:end]
        self.rw[run, start:end] = np.bincount(flat[correct], minlength=n * v).reshape(n, v)
        if self.any_bad:
            self.bad_users[run, users[self.bad[version] & ~failed]] = True

    # --- what Prometheus would say ----------------------------------------------------------------
    def window(self, ks: list[int], spans: list[tuple[int, int]], versions: list[set[str]]) -> list[dict[str, VersionWindow]]:
        """Each run's named versions over its span, with latency histograms under that window's noise."""
        k = np.array(ks)
        a = np.array([s[0] for s in spans])
        n = spans[0][1] - spans[0][0]
        assert all(b - s == n for s, b in spans), "a batch of windows must have one length"
        rows = a[:, None] + np.arange(n)
        answered = self.ok[k[:, None], rows].sum(axis=1) + self.mirrored[k[:, None], rows].sum(axis=1)
        requests = self.req[k[:, None], rows].sum(axis=1) + self.mirrored[k[:, None], rows].sum(axis=1)
        errors = self.err[k[:, None], rows].sum(axis=1)
        if self.delay is None:
            feedback = reward = np.zeros_like(requests)
        else:
            label_rows = rows - self.delay
            valid = label_rows >= 0
            label_rows = np.maximum(label_rows, 0)
            feedback = (self.ok[k[:, None], label_rows] * valid[:, :, None]).sum(axis=1)
            reward = (self.rw[k[:, None], label_rows] * valid[:, :, None]).sum(axis=1)
        served_before = self.served[k] - answered  # the span is the one each run served last
        noise = self.world.noise
        shared = noise.shared_window_sigma * self.rng.standard_normal(len(ks))
        pairs = [(i, self.index[v]) for i, vs in enumerate(versions) for v in sorted(vs)]
        counts = np.array([requests[i, j] for i, j in pairs], dtype=np.int64)
        scales = np.exp(shared[[i for i, _ in pairs]] + noise.own_window_sigma * self.rng.standard_normal(len(pairs)))
        hist = histograms([self.models[j].latency for _, j in pairs], counts, scales, self.rng, _BOUNDS)
        qs = quantiles_many((0.5, 0.95, 0.99), hist).tolist()
        memory_noise = np.exp(noise.memory_sigma * self.rng.standard_normal(len(pairs)))
        scale_r, warm = self.world.warmup_requests, self.world.warmup_bytes
        out: list[dict[str, VersionWindow]] = [{} for _ in ks]
        for p, (i, j) in enumerate(pairs):
            c0, c = float(served_before[i, j]), float(answered[i, j])
            grown = warm * scale_r * (math.exp(-c0 / scale_r) - math.exp(-(c0 + c) / scale_r)) * memory_noise[p]
            out[i][self.names[j]] = VersionWindow(float(requests[i, j]), float(errors[i, j]), float(feedback[i, j]),
                                                  float(reward[i, j]), hist[p] if counts[p] else None,
                                                  grown + float(self.leak[j]) * c, tuple(qs[p]))
        return out

    def counters(self, run: int) -> dict[str, dict[str, float]]:
        """Cumulative requests, labels and rewards per version now (the engine's instant counter queries)."""
        t = int(self.t[run])
        requests = self.req[run, :t].sum(axis=0) + self.mirrored[run, :t].sum(axis=0)
        if self.delay is None:
            feedback = reward = np.zeros(len(self.names))
        else:
            feedback, reward = self.ok[run, :max(0, t - self.delay)].sum(axis=0), self.rw[run, :max(0, t - self.delay)].sum(axis=0)
        errors = self.err[run, :t].sum(axis=0)  # counted when answered, as the servers' 5xx counter is
        return {v: {"requests": float(requests[i]), "feedback": float(feedback[i]), "reward": float(reward[i]),
                    "errors": float(errors[i])} for i, v in enumerate(self.names)}

    def user_moments(self, run: int) -> tuple[dict[str, UserMoments], dict[str, float]]:
        """Per-version user sums over labels arrived so far, and users exposed (sticky runs).

        Each request is counted once, when its label arrives (records are in tick order), so many looks
        cost no more than one."""
        v, p = len(self.names), self.population
        sums = self.sums.setdefault(run, (np.zeros((v, p)), np.zeros((v, p)), np.zeros((v, p), dtype=bool)))
        n, y, exposed = sums
        t = int(self.t[run])
        cut_tick = t - (self.delay if self.delay is not None else 10**9)
        for record in self.records.get(run, []):
            users, version, tick, code, done = record
            key = version * p + users
            if not done[1]:  # every answered request so far is an exposure
                answered = code > 0
                exposed.reshape(-1)[key[answered]] = True
                done[1] = True
            cut = int(np.searchsorted(tick, cut_tick, side="left"))
            if cut > done[0]:
                part = slice(done[0], cut)
                labelled = code[part] > 0
                k = key[part][labelled]
                n.reshape(-1)[:] += np.bincount(k, minlength=v * p)
                y.reshape(-1)[:] += np.bincount(k[code[part][labelled] == 2], minlength=v * p)
                done[0] = cut
        moments = {name: UserMoments(float((n[i] > 0).sum()), float(y[i].sum()), float(n[i].sum()),
                                     float((y[i] ** 2).sum()), float((n[i] ** 2).sum()), float((y[i] * n[i]).sum()))
                   for i, name in enumerate(self.names)}
        return moments, {name: float(exposed[i].sum()) for i, name in enumerate(self.names)}

    def mirrored_total(self, run: int, version: str) -> int:
        return int(self.mirrored[run, :int(self.t[run]), self.index[version]].sum())

    def bad_exposure(self, run: int) -> tuple[float, float]:
        """Requests answered by a bad version so far, and distinct users who got at least one such answer."""
        return float(self.ok[run, :int(self.t[run])][:, self.bad].sum()), float(self.bad_users[run].sum())
