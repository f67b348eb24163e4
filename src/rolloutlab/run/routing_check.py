"""`run --check` on a cluster: every routing state the scenario's strategy can produce, checked against the cluster.

The states come from the real strategy stepping through the simulator (sim/runner.py) over seeded worlds
where the candidate is as measured, better and worse, so promotions, rollbacks, holds, every bandit
weighting and A/B split are all reached; the baseline alone (every abort) is added. Each is rendered as
the HTTPRoute the router would write (sticky splits as bucket-header matches, routers/sticky_buckets.py;
it refuses what an HTTPRoute cannot express: too many backends or matches, weights past the limit) and sent to the API server as a
server-side dry run, so its schema, header rules and limits are the cluster's own verdict. Nothing is
changed on the cluster.
"""

from __future__ import annotations

from typing import Any

from rolloutlab.errors import RolloutLabError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import ScenarioBase
from rolloutlab.strategies.base import Strategy

SEEDS = (1, 2)
RUNS_PER_WORLD = 4


def reachable_states(scenario: ScenarioBase, strategy: Strategy, rates: dict[str, float]) -> list[RoutingState]:
    """Distinct routing states (weights, rules, sticky, mirror) the strategy serves in simulated runs."""
    from rolloutlab.sim.runner import run_batch
    from rolloutlab.sim.world import world_for

    seen: dict[tuple, RoutingState] = {}

    def keep(states: list[RoutingState]) -> None:
        for state in states:
            seen.setdefault(_routed(state), state)

    baseline = scenario.versions.baseline
    keep([RoutingState({v: (100 if v == baseline else 0) for v in scenario.versions.all}, reason="abort")])
    candidates = [v for v in scenario.versions.all if v != baseline]
    for shift in (0.0, 0.1, -0.3):  # as measured, clearly better, clearly worse: each branch of the strategy
        shifted = {**rates, **{v: min(1.0, max(0.0, rates.get(v, 0.9) + shift)) for v in candidates}}
        world = world_for(scenario, shifted)
        for seed in SEEDS:
            run_batch(scenario, strategy, world, seed, RUNS_PER_WORLD, on_serve=keep)
    return list(seen.values())


def _routed(state: RoutingState) -> tuple:
    return (tuple(sorted(state.weights.items())), repr(state.rules), repr(state.sticky), repr(state.mirror))


def check_states(states: list[RoutingState], names: K8sNames, versions: list[str], objects: Any) -> list[str]:
    """Render each state and dry-run it on the cluster's HTTPRoute; problems, one line per refused state."""
    from rolloutlab.routers.gateway_api import PLURAL, VERSION
    from rolloutlab.routers.httproute import GATEWAY_GROUP, render_httproute
    from rolloutlab.routers.kube_api import MERGE_PATCH, call

    problems, sent = [], set()
    for state in states:
        try:
            state.validate(set(versions))
            rendered = render_httproute(state, names)
            # States that differ only in weights (a bandit's) have one shape for the API server: ask once.
            shape = (tuple(sorted(state.active())), repr(state.rules), repr(state.sticky), repr(state.mirror))
            if shape in sent:
                continue
            sent.add(shape)
            call(f"dry run of HTTPRoute {names.namespace}/{names.httproute} for {state.describe()}",
                 lambda: objects.patch_namespaced_custom_object(
                     GATEWAY_GROUP, VERSION, names.namespace, PLURAL, names.httproute,
                     {"spec": {"rules": rendered["spec"]["rules"]}}, dry_run="All", _content_type=MERGE_PATCH))
        except RolloutLabError as exc:
            problems.append(f"{state.describe()}: {exc}")
    return problems
