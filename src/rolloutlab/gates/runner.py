"""Run a scenario's pre-deploy gates against the versions' own servers, before any user traffic moves."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rolloutlab.errors import GateError
from rolloutlab.gates import contract, latency_smoke, offline_eval, stress
from rolloutlab.gates.client import require_ready
from rolloutlab.gates.holdout import load_holdout
from rolloutlab.gates.result import GateResult
from rolloutlab.scenario.gates import Gates

_WHAT = {
    "offline_eval": "held-out rows through both servers, scored",
    "contract": "good and bad requests to the candidate",
    "latency_smoke": "single-row requests to both, interleaved",
    "stress": "a short step load on the candidate",
}


def run_gates(gates: Gates, *, baseline: str, candidate: str, urls: dict[str, str], holdout: Path,
              progress: Callable[[str], None] = lambda _: None, run_dir: Path | None = None) -> list[GateResult]:
    """Every enabled gate in order; all run even after a failure, except stress (skipped then).

    `urls` maps each version to its own server's base URL, never the router's. A failing model is a
    failed GateResult; GateError only when a gate cannot run at all (server unreachable, holdout missing).
    Stress artifacts go to `run_dir` (default: a new run directory under the lab home).
    """
    names = gates.enabled()
    if not names:
        return []
    for role, version in (("baseline", baseline), ("candidate", candidate)):
        if version not in urls:
            raise GateError(f"no server URL for the {role} {version!r}; have {', '.join(sorted(urls)) or 'none'}")
    rows = gates.offline_eval.rows if gates.offline_eval is not None and gates.offline_eval.enabled else None
    held_out = load_holdout(holdout, rows)
    probe_rows = held_out if rows is None else load_holdout(holdout)
    needs_baseline = any(name in names for name in ("offline_eval", "latency_smoke"))
    for version in (baseline, candidate) if needs_baseline else (candidate,):
        require_ready(version, urls[version])

    results: list[GateResult] = []
    for name in names:
        started = time.monotonic()
        if name == "stress" and any(not r.passed for r in results):
            failed = ", ".join(r.name for r in results if not r.passed)
            results.append(GateResult(name, False, f"skipped: {failed} failed first", {}, skipped=True))
            continue
        progress(f"gate {name}: {_WHAT[name]}")
        if name == "offline_eval":
            assert gates.offline_eval is not None
            result = offline_eval.judge(gates.offline_eval, offline_eval.score(baseline, urls[baseline], held_out),
                                        offline_eval.score(candidate, urls[candidate], held_out))
        elif name == "contract":
            result = contract.run(candidate, urls[candidate], probe_rows)
        elif name == "latency_smoke":
            assert gates.latency_smoke is not None
            result = latency_smoke.run(gates.latency_smoke, baseline, candidate, urls, probe_rows)
        else:
            assert gates.stress is not None
            result = stress.run(gates.stress, candidate, urls[candidate], holdout, run_dir or _stress_dir(candidate),
                                progress)
        results.append(result.timed(time.monotonic() - started))
    return results


def _stress_dir(candidate: str) -> Path:
    from rolloutlab.paths import lab_home, new_run_dir

    return new_run_dir(lab_home(), f"gate-stress-{candidate}")
