"""What the simulated world is fitted to when nothing better is at hand: numbers measured on the local target.

Held-out accuracies are those recorded at build time (540 held-out rows; `rolloutlab models show`); a build
in this lab's store overrides them. Served latency at ≈ 60-150 req/s on the 2-core lab machine is
dominated by HTTP and BentoML overhead, not the model (offline model latency is ≈ 0.2 ms), so every
version shares one base distribution, fitted to the analysis windows journalled by live runs
(tests/fixtures/journals): p50 4-8 ms, p95 15-26 ms, p99 27-36 ms in a quiet window and a few
100-180 ms p99s when the machine stalls. See README "Simulate" for how each number was read.
"""

from __future__ import annotations

# Held-out accuracy (reward rate) per recipe, as recorded in each build's build.json (same rows for all).
HELD_OUT_ACCURACY: dict[str, float] = {
    "v1": 0.938889,
    "v2": 0.994444,
    "v3": 0.985185,
    "degraded": 0.785185,
}

# Base served latency: lognormal median and shape. p95/p50 ≈ 2.7-3.2 in quiet windows → sigma ≈ 0.7.
BASE_MEDIAN_MS = 6.0
BASE_SIGMA = 0.7
# Stalls (GC, a busy neighbour on 2 shared cores): ≈ 1 % of requests ≈ 100 ms more, which is what makes the
# p99s of 110-180 ms seen in some windows while p95 stayed ≈ 25 ms.
STALL_FRACTION = 0.01
STALL_MEDIAN_MS = 100.0
STALL_SIGMA = 0.5
# Window-to-window latency noise, as log-scale standard deviations of a multiplier on every latency:
# one shared by all versions (machine load drifting: quiet-window p95s of one version spread ≈ 0.15 in
# log), one per version and window (two processes in the same window: log p95 ratios of identical builds
# spread ≈ 0.16, of which ≈ 0.12 is the p95's own sampling noise at ≈ 300 requests).
SHARED_WINDOW_SIGMA = 0.15
OWN_WINDOW_SIGMA = 0.08
# Resident memory growth of a healthy server while it warms up: ≈ 12 KiB per request at first, fading
# with the requests it has served (flat after ≈ 3,000); measured 7.1-12 KiB/request in reference windows.
WARMUP_BYTES_PER_REQUEST = 12 * 1024
WARMUP_REQUESTS = 1500.0
MEMORY_NOISE_SIGMA = 0.3
# NGINX applies a new routing state in ≈ 2.7 s on the local target (journals: routing_applied after the
# decision, the `switch` event's apply_s); the previous state serves meanwhile, outside any window.
APPLY_S = 2.7
