"""What a run on a cluster checks before it touches anything, and the in-cluster Locust as the engine's load."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from rolloutlab.cli import main
from rolloutlab.errors import ClusterError, LoadError
from rolloutlab.load.cluster_swarm import ClusterSwarm, swarm_fields
from rolloutlab.scenario import load_scenario
from rolloutlab.scenario.load import RampLoad, SteadyLoad
from rolloutlab.targets.cluster_lab import find_lab, keep_running

OUTPUTS = {
    "cluster": {"kind": "existing", "name": "rolloutlab", "context": "prod-eu"},
    "endpoints": {"namespace": "lab", "versions": {"v1": "http://...", "v2": "http://..."},
                  "load": {"namespace": "lab", "service": "locust-master", "port": 8089, "workers": 2}},
}


class Outputs:
    def __init__(self, outputs: dict[str, Any]) -> None:
        self.value = outputs

    def outputs(self) -> dict[str, Any]:
        return self.value


def every_tool(_: str) -> str:
    return "/usr/bin/tool"


def test_finds_namespace_versions_context_and_load_generator_from_the_outputs() -> None:
    lab = find_lab(load_scenario("canary-basic"), "existing", Outputs(OUTPUTS), which=every_tool)
    assert (lab.deployed, lab.names.namespace, lab.context, lab.has_load_generator) == (("v1", "v2"), "lab", "prod-eu", True)
    assert lab.names.httproute == "model-route" and lab.names.service == "digits-classifier"


@pytest.mark.parametrize("tool", ["pulumi", "kubectl"])
def test_a_missing_tool_is_named_with_where_to_get_it(tool: str) -> None:
    with pytest.raises(ClusterError, match=rf"a run on stack kind needs {tool} on PATH .*install it \(https://"):
        find_lab(load_scenario("canary-basic"), "kind", Outputs(OUTPUTS), which=lambda t: None if t == tool else "/x")


def test_a_stack_that_is_not_deployed_says_how_to_deploy_it() -> None:
    with pytest.raises(ClusterError, match=r"stack minikube is not deployed .*`rolloutlab cluster up --stack minikube`"):
        find_lab(load_scenario("canary-basic"), "minikube", Outputs({}), which=every_tool)


def test_a_version_the_stack_does_not_deploy_is_named_with_the_fix() -> None:
    with pytest.raises(ClusterError, match=r"stack existing deploys v1, v2, but canary-slow needs slow: add it to "
                                           r"rolloutlab:versions in stacks/Pulumi.existing.yaml"):
        find_lab(load_scenario("canary-slow"), "existing", Outputs(OUTPUTS), which=every_tool)


def test_blue_keeps_running_and_the_message_says_how_to_remove_it() -> None:
    lab = find_lab(load_scenario("bluegreen-basic"), "kind", Outputs(OUTPUTS), which=every_tool)
    message = keep_running(lab)("v1")
    assert "v1 left running with no traffic" in message
    assert "remove it from rolloutlab:versions in stacks/Pulumi.kind.yaml and `pulumi up --stack kind`" in message


@pytest.mark.parametrize("args, wrong", [
    (["--target", "existing", "--keep-up"], "--keep-up: for the local target only"),
    (["--target", "kind", "--router-port", "8080"], "--router-port: for the local target only"),
    (["--load", "local"], "--load: for cluster targets (--target kind|minikube|existing) only"),
    (["--check"], "--check: for cluster targets"),
])
def test_options_of_the_other_kind_of_target_are_refused(args: list[str], wrong: str) -> None:
    result = CliRunner().invoke(main, ["run", "canary-basic", *args])
    assert result.exit_code == 2 and wrong in result.output, result.output


class Master:
    """The KubernetesTarget calls ClusterSwarm makes, with the master's state as Locust reports it."""

    def __init__(self) -> None:
        self.state, self.calls, self.down = "ready", [], False

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0,
                   fields: dict[str, str] | None = None) -> None:
        self.calls.append(("swarm", users, spawn_rate))
        self.fields = fields
        self.state = "running"

    def heartbeat_load(self) -> dict[str, Any]:
        if self.down:
            raise LoadError("the Locust master at http://127.0.0.1:1 did not answer")
        self.calls.append(("heartbeat",))
        return {"armed": True}

    def stop_load(self) -> None:
        self.calls.append(("stop",))
        self.state = "stopped"

    def load_stats(self) -> dict[str, Any]:
        if self.down:
            raise LoadError("the Locust master at http://127.0.0.1:1 did not answer")
        return {"state": self.state, "stats": [
            {"name": "/predict", "num_requests": 900, "num_failures": 2, "total_rps": 60.0,
             "median_response_time": 4, "response_time_percentile_0.95": 12},
            {"name": "Aggregated", "num_requests": 1700, "num_failures": 2, "total_rps": 113.0}]}


def test_the_in_cluster_swarm_starts_reports_alive_and_stops_once() -> None:
    master = Master()
    swarm = ClusterSwarm(master, SteadyLoad(users=10), max_seconds=120)
    swarm.stop()  # never started: nothing to stop
    assert master.calls == []
    swarm.start()
    assert swarm.alive()
    swarm.stop()
    swarm.stop()
    assert master.calls == [("swarm", 10, 10.0), ("heartbeat",), ("stop",)]
    stats = swarm.stats()
    assert stats is not None and (stats.requests, stats.failures, stats.rps, stats.p95_ms) == (900, 2, 60.0, 12.0)


def test_a_master_that_stops_answering_counts_as_load_stopped() -> None:
    master = Master()
    swarm = ClusterSwarm(master, SteadyLoad(users=10), max_seconds=120).start()
    master.down = True
    assert not swarm.alive()
    master.down, master.state = False, "stopped"
    assert not swarm.alive()


def test_each_swarm_carries_the_scenarios_plan_its_bound_and_heartbeat_timeout() -> None:
    master = Master()
    load = RampLoad(shape="ramp", users=40, start_users=5, ramp_time=30, rate_per_user=2.5, seed=7,
                    population=300, feedback_delay=None)
    ClusterSwarm(master, load, max_seconds=90, heartbeat_timeout=12).start()
    assert master.calls == [("swarm", 40, 40.0)]
    assert master.fields == {
        "rolloutlab_rate_per_user": "2.5", "rolloutlab_seed": "7", "rolloutlab_population": "300",
        "rolloutlab_feedback_delay": "off", "rolloutlab_shape": "ramp",
        "rolloutlab_shape_params": '{"start_users": 5, "ramp_time": 30.0}',
        "rolloutlab_swarm_time": "90.0", "rolloutlab_heartbeat_timeout": "12.0"}


def test_a_swarm_without_a_positive_bound_is_refused() -> None:
    with pytest.raises(LoadError, match="max_seconds must be positive"):
        swarm_fields(SteadyLoad(), max_seconds=0, heartbeat_timeout=10)
