"""Whole scenarios on the Kubernetes control path: the engine drives the real HTTPRoute and Service.

On the package's stack (the lab's own program, deployed by the real Pulumi engine), canary-basic
and bluegreen-basic run through the cluster wiring of `rolloutlab run --target existing`
(run.cluster: find_lab from the stack's real outputs, RouteAndStableRouter over the Gateway
API and Service-selector routers, the record-back into the stack's config) — everything but the data
plane: no pod serves here, so the numbers are a real local run's, replayed according to the route the
API server holds (tests/testbed/replay.py), and the hooks look at the live objects instead of sending
requests. A stand-in controller accepts each route generation, so the router waits for Accepted as
on a cluster. Then the ownership proof: after a recorded run, `pulumi preview --diff --refresh`
plans nothing and `pulumi up --refresh` keeps v2 serving.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from rolloutlab.run.program import RunReport
from rolloutlab.run.cluster import run_with
from rolloutlab.targets.cluster_lab import ClusterLab, cluster_router, find_lab, keep_running
from rolloutlab.journal import read_journal
from rolloutlab.paths import new_run_dir
from rolloutlab.routing import RoutingState, preview_rule
from rolloutlab.scenario import ScenarioBase, load_scenario
from rolloutlab.targets.kubernetes import PulumiStack
from tests.testbed.conftest import ControlPlane, Deployed
from tests.testbed.pulumi_project import STACK, preview, up
from tests.testbed.replay import LiveRoute, ObservingHooks, ReplaySource
from tests.testbed.route_status import RouteStatusWriter
from tests.testbed.timings import record

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(600)]
RECORDED = Path(__file__).parent / "recorded"
SCALE = 0.2  # canary-basic: 3 s per step; bluegreen-basic: 3 s reference window, 4 s watch
V1, V2 = "digits-classifier-v1", "digits-classifier-v2"


def scenario(name: str) -> ScenarioBase:
    return load_scenario(name).scaled(SCALE)


@pytest.fixture(scope="module")
def lab(deployed: Deployed) -> ClusterLab:
    """The stack as a run finds it: the real outputs, read through the Automation API."""
    return find_lab(scenario("canary-basic"), STACK, PulumiStack(STACK, deployed.work_dir))


@pytest.fixture(scope="module")
def live(deployed: Deployed, lab: ClusterLab) -> LiveRoute:
    return LiveRoute(deployed.api, lab.names)


@pytest.fixture(scope="module")
def controller(deployed: Deployed, lab: ClusterLab) -> Iterator[RouteStatusWriter]:
    with RouteStatusWriter(deployed.api, lab.names.namespace) as writer:
        yield writer


def run(spec: ScenarioBase, lab: ClusterLab, deployed: Deployed, metrics: ReplaySource, hooks: ObservingHooks,
        home: Path) -> RunReport:
    router = cluster_router(spec, lab, deployed.api)  # waits for Accepted, as on a cluster
    interrupted = " (Ctrl-C mid-run)" if metrics.interrupt_at_share is not None else ""
    with record(f"engine: {spec.name}{interrupted} on the testbed (time scale {SCALE})"):
        return run_with(spec, new_run_dir(home, spec.name), lab, deployed.work_dir, router, metrics, load=None,
                        hooks=hooks)


def routed(state: RoutingState) -> tuple:
    """What a state routes (the generation counts changes and differs from run to run)."""
    return (state.weights, state.rules, state.sticky, state.mirror)


def recorded_routing(deployed: Deployed) -> dict:
    import yaml

    stack_file = deployed.work_dir / "config" / f"Pulumi.{STACK}.yaml"
    return yaml.safe_load(stack_file.read_text(encoding="utf-8"))["config"]["rolloutlab:routing"]


def events(report: RunReport, kind: str) -> list[dict]:
    return [r for r in read_journal(report.journal) if r["event"] == kind]


def test_finds_the_deployed_stack_from_its_real_outputs(lab: ClusterLab) -> None:
    assert lab.deployed == ("v1", "v2") and lab.names.namespace == "rolloutlab" and lab.context == "realk8s"
    assert not lab.has_load_generator  # loadWorkers 0 on the testbed


def test_an_interrupted_canary_puts_the_route_back_on_the_baseline_and_records_it(
        lab: ClusterLab, deployed: Deployed, live: LiveRoute, controller: RouteStatusWriter, tmp_path: Path) -> None:
    spec = scenario("canary-basic")
    recorded = RECORDED / "canary-basic.journal.jsonl"
    metrics = ReplaySource(recorded, "v2", live, (spec.analysis.interval,), interrupt_at_share=50)  # Ctrl-C at 50 %
    report = run(spec, lab, deployed, metrics, ObservingHooks(recorded, live, keep_running(lab)), tmp_path)
    assert report.outcome.interrupted and report.outcome.outcome == "aborted"
    assert [share for share, _ in metrics.seen] == [0, 10, 50]  # the server held 50 % when the user interrupted
    assert routed(live.state()) == routed(RoutingState({"v1": 100, "v2": 0}))  # read back from the API server
    assert live.backends() == [(V1, 100)]
    assert recorded_routing(deployed)["httproute"]["weights"] == {"v1": 100, "v2": 0}
    assert events(report, "routing_recorded")[0]["routing"]["httproute"] == live.state().to_dict()


def test_canary_basic_drives_the_httproute_through_every_step_and_records_the_promotion(
        lab: ClusterLab, deployed: Deployed, live: LiveRoute, controller: RouteStatusWriter, tmp_path: Path) -> None:
    stable_before = live.stable_version()
    spec = scenario("canary-basic")
    recorded = RECORDED / "canary-basic.journal.jsonl"
    metrics = ReplaySource(recorded, "v2", live, (spec.analysis.interval,))
    generation = live.route()["metadata"]["generation"]
    report = run(spec, lab, deployed, metrics, ObservingHooks(recorded, live, keep_running(lab)), tmp_path)
    assert report.outcome.outcome == "promoted", report.outcome.reason
    assert report.outcome.analyses >= 3  # one per step, more with sequential looks
    # What the API server held while each window was judged (the weighted rule's backendRefs).
    assert metrics.seen == [(0, [(V1, 100)]), (10, [(V1, 90), (V2, 10)]), (50, [(V1, 50), (V2, 50)]),
                            (100, [(V2, 100)])]
    assert routed(live.state()) == routed(RoutingState({"v1": 0, "v2": 100}))
    # The router waited for the controller to accept every generation it wrote.
    assert {g for name, g in controller.reported if name == lab.names.httproute} >= \
        set(range(generation + 1, live.route()["metadata"]["generation"] + 1))
    assert live.stable_version() == stable_before  # a canary leaves the stable Service alone
    assert recorded_routing(deployed)["httproute"] == live.state().to_dict()


def test_an_interrupted_blue_green_switches_route_and_stable_service_back_to_blue(
        lab: ClusterLab, deployed: Deployed, live: LiveRoute, controller: RouteStatusWriter, tmp_path: Path) -> None:
    spec = scenario("bluegreen-basic")
    recorded = RECORDED / "bluegreen-basic.journal.jsonl"
    windows = (spec.analysis.interval, spec.watch)  # type: ignore[attr-defined]
    metrics = ReplaySource(recorded, "v2", live, windows, interrupt_at_share=100)  # Ctrl-C in the watch window
    hooks = ObservingHooks(recorded, live, keep_running(lab))
    report = run(spec, lab, deployed, metrics, hooks, tmp_path)
    assert report.outcome.interrupted
    # Both objects had switched to green when the user interrupted.
    assert [(routed(state), stable) for state, stable in hooks.switched] == [(routed(RoutingState({"v1": 0, "v2": 100})), "v2")]
    assert routed(live.state()) == routed(RoutingState({"v1": 100, "v2": 0})) and live.stable_version() == "v1"
    routing = recorded_routing(deployed)
    assert routing["httproute"]["weights"] == {"v1": 100, "v2": 0}
    assert routing["stableService"]["weights"] == {"v1": 100, "v2": 0}


def test_bluegreen_basic_previews_switches_and_keeps_blue_deployed(
        lab: ClusterLab, deployed: Deployed, live: LiveRoute, controller: RouteStatusWriter, tmp_path: Path) -> None:
    spec = scenario("bluegreen-basic")
    recorded = RECORDED / "bluegreen-basic.journal.jsonl"
    metrics = ReplaySource(recorded, "v2", live, (spec.analysis.interval, spec.watch))  # type: ignore[attr-defined]
    hooks = ObservingHooks(recorded, live, keep_running(lab))
    report = run(spec, lab, deployed, metrics, hooks, tmp_path)
    assert report.outcome.outcome == "promoted", report.outcome.reason
    # Smoke tests saw the preview rule on the server while blue still had all the weight.
    assert [routed(state) for state in hooks.smoked] == [routed(RoutingState({"v1": 100, "v2": 0},
                                                                             rules=(preview_rule("v2"),)))]
    assert [(routed(state), stable) for state, stable in hooks.switched] == [(routed(RoutingState({"v1": 0, "v2": 100})), "v2")]
    assert [share for share, _ in metrics.seen] == [0, 100]
    # Final: green alone; blue stays in the route at weight 0 (its x-model-version rule) and keeps running.
    assert routed(live.state()) == routed(RoutingState({"v2": 100, "v1": 0})) and live.backends() == [(V2, 100)]
    assert live.stable_version() == "v2"
    retired = events(report, "retired")
    assert [r["version"] for r in retired] == ["v1"] and "left running" in retired[0]["message"]
    blue = client.AppsV1Api(deployed.api).read_namespaced_deployment(V1, lab.names.namespace)
    assert blue.spec.replicas == 1
    routing = recorded_routing(deployed)
    assert routing["httproute"] == live.state().to_dict()
    assert routing["stableService"]["weights"] == {"v1": 0, "v2": 100}


def test_pulumi_keeps_the_recorded_decision_after_a_run(deployed: Deployed, live: LiveRoute) -> None:
    with record("pulumi preview --diff --refresh (after the runs)"):
        _, planned = preview(deployed.stack, refresh=True, diff=True)
    assert planned.refreshed, "the preview did not refresh"
    assert planned.changed() == {}, f"planned changes after the run: {planned.changed()}\n{planned.text()[-3000:]}"
    with record("pulumi up --refresh (after the runs)"):
        _, applied = up(deployed.stack, refresh=True)
    assert applied.changed() == {}, applied.changed()
    assert routed(live.state()) == routed(RoutingState({"v1": 0, "v2": 100})) and live.backends() == [(V2, 100)]
    assert live.stable_version() == "v2"


def test_run_check_on_the_cli_reads_the_stack_and_its_route(deployed: Deployed, testbed: ControlPlane) -> None:
    env = {**testbed.env, "ROLLOUTLAB_PROJECT": str(deployed.work_dir)}
    with record("rolloutlab run --target existing --check"):
        done = subprocess.run([sys.executable, "-m", "rolloutlab.cli", "run", "canary-basic", "--target", STACK,
                               "--check"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stack existing: deploys v1, v2 in namespace rolloutlab (kubeconfig context realk8s)" in done.stdout
    assert "HTTPRoute rolloutlab/model-route: v1 0%, v2 100%" in done.stdout
    assert "Service rolloutlab/model-stable: v1 0%, v2 100%" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "rolloutlab.cli", "run", "canary-slow", "--target", STACK],
                             env=env, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 1
    assert "stack existing deploys v1, v2, but canary-slow needs slow" in missing.stderr, missing.stderr


def _check(testbed: ControlPlane, deployed: Deployed, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**testbed.env, "ROLLOUTLAB_PROJECT": str(deployed.work_dir)}
    return subprocess.run([sys.executable, "-m", "rolloutlab.cli", "run", *args, "--target", STACK, "--check"],
                          env=env, capture_output=True, text=True, timeout=180, check=False)


def test_run_check_renders_every_routing_state_the_strategy_can_produce(deployed: Deployed,
                                                                       testbed: ControlPlane) -> None:
    from rolloutlab.errors import RoutingError
    from rolloutlab.k8s_names import K8sNames
    from rolloutlab.routers.httproute import render_httproute

    with record("rolloutlab run canary-basic / ab-accuracy --check (every routing state, dry-run)"):
        canary = _check(testbed, deployed, "canary-basic")
        ab = _check(testbed, deployed, "ab-accuracy")
    assert canary.returncode == 0, canary.stdout + canary.stderr
    assert "routing: every state canary-basic's strategy can produce (4, from simulated runs)" in canary.stdout
    # A/B asks for sticky routing: --check says so before anything starts exactly when the route cannot carry it.
    try:
        render_httproute(_sticky_state(), K8sNames())
        renders = True
    except RoutingError:
        renders = False
    if renders:
        assert ab.returncode == 0 and "routing: every state ab-accuracy's strategy" in ab.stdout, ab.stdout + ab.stderr
    else:
        assert ab.returncode == 1, ab.stdout + ab.stderr
        assert "cannot carry out" in ab.stderr and "sticky" in ab.stderr, ab.stderr
        assert "ready:" not in ab.stdout


def _sticky_state() -> RoutingState:
    """The state an A/B test asks for (as strategies/ab_test.py builds it)."""
    from rolloutlab.run.routing_check import reachable_states
    from rolloutlab.strategies.factory import strategy_for

    spec, rates = load_scenario("ab-accuracy"), {"v1": 0.94, "v2": 0.99}
    states = reachable_states(spec, strategy_for(spec, rates), rates)
    return next(s for s in states if s.sticky)


def test_mirroring_is_refused_up_front_when_the_gateway_class_says_it_cannot(deployed: Deployed,
                                                                             testbed: ControlPlane) -> None:
    def publish(features: list[str] | None) -> None:
        status = {"supportedFeatures": [{"name": f} for f in features]} if features is not None else \
            {"supportedFeatures": None}
        done = testbed.kubectl("patch", "gatewayclass", "rolloutlab", "--subresource=status", "--type=merge",
                               "-p", json.dumps({"status": status}))
        assert done.returncode == 0, done.stderr

    mirrored = ("bluegreen-basic", "--set", "pre_switch_mirror=20")
    try:
        # (A GatewayClass that publishes nothing — the testbed's, with no controller — is only warned about:
        # tests/unit/test_target_contract.py reads that status.)
        with record("rolloutlab run bluegreen-basic (pre_switch_mirror) --check, two GatewayClass statuses"):
            publish(["HTTPRoute", "Gateway"])
            refused = _check(testbed, deployed, *mirrored)
            publish(["HTTPRoute", "Gateway", "HTTPRouteRequestMirror"])
            supported = _check(testbed, deployed, *mirrored)
    finally:
        publish(None)
    assert refused.returncode == 1 and "ready:" not in refused.stdout
    assert ("needs pre_switch_mirror (20%), but GatewayClass rolloutlab (Gateway rolloutlab/rolloutlab-gateway) "
            "does not support HTTPRouteRequestMirror") in refused.stderr, refused.stderr
    assert supported.returncode == 0, supported.stderr
    assert "GatewayClass rolloutlab supports HTTPRouteRequestMirror (pre_switch_mirror (20%))" in supported.stdout
