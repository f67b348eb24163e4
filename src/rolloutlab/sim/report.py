"""A simulation summary as lines of text for people (the CLI prints them; nothing here prints)."""

from __future__ import annotations

from typing import Any

from rolloutlab.scenario import ScenarioBase
from rolloutlab.sim.world import World


def lines(scenario: ScenarioBase, world: World, summary: dict[str, Any], seed: int, seconds: float) -> list[str]:
    n = summary["runs"]
    out = [f"{scenario.name}: {n} simulated runs (seed {seed}) in {seconds:.1f}s ({n / max(seconds, 1e-9):,.0f} runs/s)",
           "world: " + ", ".join(f"{v} reward {m.reward_rate:.4f}" + (f" [{', '.join(m.faults)}]" if m.faults else "")
                                 for v, m in world.versions.items()),
           "", "outcomes (95 % Wilson intervals):"]
    out += [f"  {o:<12} {r}" for o, r in summary["outcomes"].items()]
    if scenario.expect:
        expected = summary["outcomes"].get(scenario.expect)
        out.append(f"  expected '{scenario.expect}': {expected if expected else 'never'}")
    for v, r in summary.get("winners", {}).items():
        out.append(f"  winner {v:<8} {r}")
    for where, r in summary.get("first_failure", {}).items():
        out.append(f"  first failed analysis at {where}: {r}")
    out += ["", f"time to decision (s): {summary['time_to_decision_s']}", f"steps: {summary['steps']}"]
    if "bad_requests" in summary:
        bad = ", ".join(summary["bad_versions"])
        out += [f"requests answered by a bad version ({bad}): {summary['bad_requests']}",
                f"users exposed to it: {summary['bad_users']}"]
    ab = summary.get("ab")
    if ab:
        out += ["", "A/B effect estimates (treatment − control, per user by the delta method):"]
        for t, e in ab.items():
            if t == "labelled_per_arm":
                continue
            out.append(f"  {t}: true {e['true_difference']:+.4f}; estimate {e['estimate']}; sd {e['sd']:.4f}; "
                       f"bias {e['bias']:+.5f}")
            out.append(f"  {t}: significant {e['significant']}; 95 % CI covers the truth {e['ci_coverage']}")
        out.append(f"  labelled requests per arm at the decision: {ab['labelled_per_arm']}")
    b = summary.get("bandit")
    if b:
        out += ["", "bandit regret (expected rewards lost against always serving the best arm):",
                f"  at the stop: bandit {b['regret_at_stop']}", f"  equal split over the same requests: "
                f"{b['equal_split_regret_at_stop']}", f"  ratio at the stop: {b['ratio_at_stop']}",
                f"  over the whole time budget (the choice serves after the stop): bandit {b['regret_at_horizon']}; "
                f"equal split {b['equal_split_at_horizon']:.1f}; ratio of means {b['ratio_at_horizon']:.3f}",
                "  regret curve (t s: median [10-90 %] vs equal split):"]
        c = b["curves"]
        every = max(1, len(c["t"]) // 8)
        for i in range(0, len(c["t"]), every):
            out.append(f"    {c['t'][i]:6.0f}: {c['bandit'][0.5][i]:8.1f} [{c['bandit'][0.1][i]:.1f}, "
                       f"{c['bandit'][0.9][i]:.1f}] vs {c['equal_split'][i]:.1f}")
    return out
