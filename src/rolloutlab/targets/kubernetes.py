"""KubernetesTarget: the lab on a cluster, brought up and torn down as a Pulumi stack through the Automation API.

`up` runs the project's Pulumi program (stacks/__main__.py) for one stack (kind, minikube, existing),
then opens `kubectl port-forward`s to the router, Prometheus and the Locust master on free 127.0.0.1
ports, so the controller reads metrics and users curl the router exactly as on the local target.
The port-forwards are processes of this lab, recorded in <home>/cluster/<stack>/state.json and stopped
by PID; the stack's resources are Pulumi's to delete (`down` runs `pulumi destroy`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from urllib.parse import urlsplit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rolloutlab.drift.uses import drift_uses
from rolloutlab.errors import ClusterError, LoadError, NotReady
from rolloutlab.load.cluster_swarm import ClusterSwarm
from rolloutlab.load.locust_master import LocustMaster
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.paths import project_root, write_atomically
from rolloutlab.probes import CLIENT_FAILURES
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routers.route_and_stable import RouteAndStableRouter
from rolloutlab.targets.cluster_lab import (
    LOAD_SOURCES,
    ClusterLab,
    api_client,
    check_mirroring,
    cluster_router,
    find_lab,
    keep_running,
    record_back,
)
from rolloutlab.targets.forwarded_metrics import ForwardedPrometheus
from rolloutlab.targets.local import Endpoints
from rolloutlab.targets.processes import (
    ProcessRecord,
    free_port,
    is_alive,
    spawn,
    stop,
    wait_until_ready,
)

if TYPE_CHECKING:
    from rolloutlab.engine import Engine
    from rolloutlab.journal import Journal
    from rolloutlab.scenario import ScenarioBase

Progress = Callable[[str], None]
STACKS = ("kind", "minikube", "existing")
# What each forward reaches (a key of the stack's `endpoints` output) and the path that proves it works.
FORWARDS = {"router": "/readyz", "prometheus": "/-/ready", "load": "/"}
VERSION_ROLE, VERSION_READY = "version ", "/readyz"  # a version's own Service, forwarded for the gates


def _forward_target(endpoints: dict[str, Any], role: str) -> dict[str, Any]:
    """namespace / service / port of what a role's forward reaches (a version's from its in-cluster URL)."""
    if not role.startswith(VERSION_ROLE):
        if not endpoints.get(role):
            raise ClusterError(f"the stack's outputs name no Service for the {role}")
        return endpoints[role]
    version = role[len(VERSION_ROLE):]
    if version not in (endpoints.get("versions") or {}):
        raise ClusterError(f"the stack's outputs name no Service for version {version}")
    url = urlsplit(endpoints["versions"][version])
    service, namespace = (url.hostname or "").split(".")[:2]
    return {"service": service, "namespace": namespace, "port": url.port or 80}


class StackDriver(Protocol):
    """The Pulumi stack as KubernetesTarget uses it (PulumiStack in production, a fake in tests)."""

    # up deploys the program with the given config overrides and returns the stack's outputs.
    def up(self, config: Mapping[str, object], progress: Progress) -> dict[str, Any]: ...

    # destroy deletes every resource of the stack (the cluster too, when the stack created it).
    def destroy(self, progress: Progress) -> None: ...

    # outputs returns the outputs of the last successful update ({} if the stack was never deployed).
    def outputs(self) -> dict[str, Any]: ...


class PulumiStack:
    """A stack of the project's Pulumi program, driven with the Automation API (needs the pulumi CLI)."""

    def __init__(self, stack: str, project_dir: Path | None = None) -> None:
        self.name = stack
        self.project_dir = project_dir or project_root()

    def _stack(self, create: bool = True) -> Any:
        if shutil.which("pulumi") is None:
            raise ClusterError(
                "the Kubernetes target needs the pulumi CLI on PATH (https://www.pulumi.com/docs/install/); "
                "the local target (`rolloutlab up`) needs none"
            )
        from pulumi import automation as auto

        # The project's backend is a local directory; its secrets provider wants a passphrase, and a
        # lab stack keeps no secrets worth one, so an unset passphrase means the empty one.
        env = {"PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")}
        select = auto.create_or_select_stack if create else auto.select_stack
        try:
            return select(stack_name=self.name, work_dir=str(self.project_dir),
                          opts=auto.LocalWorkspaceOptions(env_vars=env))
        except auto.StackNotFoundError:
            return None  # only when create is False
        except auto.CommandError as exc:
            raise ClusterError(f"pulumi could not select stack {self.name!r}: {_tail(exc)}") from None

    def up(self, config: Mapping[str, object], progress: Progress) -> dict[str, Any]:
        from pulumi import automation as auto

        stack = self._stack()
        progress(f"pulumi up (stack {self.name}): {', '.join(f'{k}={v}' for k, v in config.items())}")
        for key, value in config.items():
            if isinstance(value, (list, tuple)):
                # Written as a YAML list (path syntax), so the stack file stays readable.
                stack.remove_config(f"rolloutlab:{key}")
                for index, item in enumerate(value):
                    stack.set_config(f"rolloutlab:{key}[{index}]", auto.ConfigValue(str(item)), path=True)
            else:
                stack.set_config(f"rolloutlab:{key}", auto.ConfigValue(str(value)))
        try:
            result = stack.up(on_output=lambda line: progress(line.rstrip()), color="never")
        except auto.CommandError as exc:
            raise ClusterError(f"pulumi up (stack {self.name}) failed: {_tail(exc)}") from None
        return {key: value.value for key, value in result.outputs.items()}

    def destroy(self, progress: Progress) -> None:
        from pulumi import automation as auto

        try:
            self._stack().destroy(on_output=lambda line: progress(line.rstrip()), color="never")
        except auto.CommandError as exc:
            raise ClusterError(f"pulumi destroy (stack {self.name}) failed: {_tail(exc)}") from None

    def outputs(self) -> dict[str, Any]:
        """The last update's outputs; {} when the stack does not exist (reading never creates it)."""
        stack = self._stack(create=False)
        if stack is None:
            return {}
        return {key: value.value for key, value in stack.outputs().items()}


def _tail(exc: Exception, lines: int = 15) -> str:
    return "\n".join(str(exc).strip().splitlines()[-lines:])


@dataclass
class ClusterState:
    """What `down`, `status` and a later CLI need: the stack's outputs and the port-forwards' processes."""

    stack: str
    outputs: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    forwards: list[ProcessRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"stack": self.stack, "outputs": self.outputs, "ports": self.ports,
                "forwards": [p.to_dict() for p in self.forwards]}

    @classmethod
    def from_dict(cls, data: dict) -> ClusterState:
        return cls(stack=data["stack"], outputs=data.get("outputs", {}), ports=data.get("ports", {}),
                   forwards=[ProcessRecord(**p) for p in data.get("forwards", [])])


class KubernetesTarget:
    """The lab on a Kubernetes cluster: a Pulumi stack plus port-forwards on 127.0.0.1."""

    kind = "kubernetes"
    builds_versions = False  # the stack deploys images; planning builds only what a strategy's rates need
    failures_query = CLIENT_FAILURES

    def __init__(self, home: Path, stack: str = "kind", driver: StackDriver | None = None,
                 kubectl: str | None = None, *, load_from: str | None = None, ready_timeout: float = 60.0,
                 work_dir: Path | None = None, api: Any = None) -> None:
        if stack not in STACKS:
            raise ClusterError(f"unknown Kubernetes stack {stack!r} (stacks: {', '.join(STACKS)})")
        self.stack = stack
        self.driver: StackDriver = driver or PulumiStack(stack)
        self.kubectl = kubectl
        self.dir = home / "cluster" / stack
        self.state_file = self.dir / "state.json"
        # The run contract's settings (targets/base.py): where load comes from, the stack's Pulumi project.
        self.load_from, self.ready_timeout = load_from, ready_timeout
        self.work_dir = work_dir or project_root()
        self.api = api
        self.lab: ClusterLab | None = None
        self._router: RouteAndStableRouter | None = None
        self.opened_here = False

    # --- state -------------------------------------------------------------------------------
    def load_state(self) -> ClusterState | None:
        try:
            return ClusterState.from_dict(json.loads(self.state_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(f"cluster state {self.state_file} is unreadable ({exc}); remove it") from exc

    def _save(self, state: ClusterState) -> None:
        write_atomically(self.state_file, json.dumps(state.to_dict(), indent=2))

    # --- lifecycle ---------------------------------------------------------------------------
    def up(self, versions: list[str], ready_timeout: float = 120.0,
           progress: Progress = lambda _: None) -> Endpoints:
        """Deploy versions (all traffic on versions[0]) with `pulumi up`, then forward the router and Prometheus."""
        if not versions:
            raise ClusterError("no versions to deploy")
        if len(set(versions)) != len(versions):
            raise ClusterError(f"versions repeat: {', '.join(versions)}")
        kubectl = self._kubectl()
        outputs = self.driver.up({"versions": list(versions)}, progress)
        return self._forward(outputs, kubectl, ready_timeout, progress)

    def connect(self, ready_timeout: float = 60.0, progress: Progress = lambda _: None) -> Endpoints:
        """Endpoints of an already deployed stack, (re)opening port-forwards that are not running."""
        state = self.load_state()
        if state and state.forwards and all(is_alive(p) for p in state.forwards):
            return self._endpoints(state)
        outputs = self.driver.outputs()
        if not outputs.get("endpoints"):
            raise ClusterError(f"stack {self.stack} is not deployed; run `rolloutlab cluster up --stack {self.stack}` first")
        return self._forward(outputs, self._kubectl(), ready_timeout, progress)

    def _forward(self, outputs: dict[str, Any], kubectl: str, timeout: float, progress: Progress) -> Endpoints:
        self._stop_forwards(self.load_state())
        endpoints = outputs.get("endpoints") or {}
        state = ClusterState(self.stack, outputs=outputs)
        checks: dict[str, tuple[ProcessRecord, str]] = {}
        try:
            for role in FORWARDS:
                if not endpoints.get(role):
                    continue  # e.g. no load generator when loadWorkers is 0
                record, url = self._spawn_forward(state, role, free_port(), kubectl, progress)
                checks[record.name] = (record, url)
            wait_until_ready(checks, timeout, lambda name, s: progress(f"{name} answers after {s:.1f}s"))
        except BaseException:
            self._stop_forwards(state)
            raise
        return self._endpoints(state)

    def _spawn_forward(self, state: ClusterState, role: str, port: int, kubectl: str,
                       progress: Progress) -> tuple[ProcessRecord, str]:
        """Start `kubectl port-forward` of one role's Service on this port; returns it and its readiness URL."""
        target = _forward_target(state.outputs.get("endpoints") or {}, role)
        context = (state.outputs.get("cluster") or {}).get("context", "")
        argv = [kubectl, *(["--context", context] if context else []), "--namespace", target["namespace"],
                "port-forward", "--address", "127.0.0.1", f"service/{target['service']}", f"{port}:{target['port']}"]
        record = spawn(f"forward {role}", argv, self.dir / "logs" / f"forward-{role}.log")
        state.ports[role] = port
        state.forwards = [p for p in state.forwards if p.name != record.name] + [record]
        self._save(state)
        progress(f"forwarding 127.0.0.1:{port} to {target['service']}.{target['namespace']} (pid {record.pid})")
        return record, f"http://127.0.0.1:{port}{FORWARDS.get(role, VERSION_READY)}"

    def reforward(self, role: str, timeout: float = 20.0, progress: Progress = lambda _: None) -> str:
        """Re-establish one port-forward on its port (kubectl port-forward exits at the first stream error),
        so every URL a run holds keeps working; returns what was done. ClusterError when it cannot."""
        state = self.load_state()
        if state is None or role not in state.ports:
            raise ClusterError(f"no port-forward for the {role} on stack {self.stack} to re-establish "
                               f"(`rolloutlab cluster connect --stack {self.stack}`)")
        old = next((p for p in state.forwards if p.name == f"forward {role}"), None)
        if old is not None:
            stop(old)  # alive but not answering is as dead: its port is needed again
        record, url = self._spawn_forward(state, role, state.ports[role], self._kubectl(), progress)
        try:
            wait_until_ready({record.name: (record, url)}, timeout)
        except NotReady as exc:
            raise ClusterError(f"the {role}'s port-forward on stack {self.stack} could not be re-established: {exc} "
                               f"(log: {record.log})") from None
        return f"re-established the {role}'s port-forward on 127.0.0.1:{state.ports[role]} (pid {record.pid})"

    def _endpoints(self, state: ClusterState) -> Endpoints:
        # A version's own URL is its forwarded Service (opened for the gates, forward_versions); in-cluster
        # URLs (the stack's outputs) are of no use from this machine.
        return Endpoints(
            router_url=f"http://127.0.0.1:{state.ports['router']}",
            prometheus_url=f"http://127.0.0.1:{state.ports['prometheus']}",
            versions={role[len(VERSION_ROLE):]: f"http://127.0.0.1:{port}" for role, port in state.ports.items()
                      if role.startswith(VERSION_ROLE)},
        )

    def forward_versions(self, versions: list[str], timeout: float = 60.0, progress: Progress = lambda _: None) -> None:
        """Port-forward each version's own Service (the pre-deploy gates talk to one server, not the route)."""
        state = self.load_state()
        if state is None or not state.ports:
            raise ClusterError(f"the lab is not connected on stack {self.stack}")
        kubectl, checks = self._kubectl(), {}
        for version in versions:
            if VERSION_ROLE + version not in state.ports:
                record, url = self._spawn_forward(state, VERSION_ROLE + version, free_port(), kubectl, progress)
                checks[record.name] = (record, url)
        try:
            wait_until_ready(checks, timeout, lambda name, s: progress(f"{name} answers after {s:.1f}s"))
        except NotReady as exc:
            raise ClusterError(f"the gates need each version's own server, but its port-forward did not answer: {exc}"
                               ) from None

    def _kubectl(self) -> str:
        found = self.kubectl or shutil.which("kubectl")
        if not found:
            raise ClusterError("the Kubernetes target needs kubectl on PATH (for port-forwards to the router and Prometheus)")
        return found

    def _stop_forwards(self, state: ClusterState | None, progress: Progress = lambda _: None) -> list[str]:
        stopped = []
        for record in (state.forwards if state else []):
            if is_alive(record):
                progress(f"stopping {record.name} (pid {record.pid})")
                stopped.append(record.name)
            stop(record)
        if state:
            state.forwards, state.ports = [], {}
            if self.state_file.exists():
                self._save(state)
        return stopped

    def down(self, destroy: bool = True, progress: Progress = lambda _: None) -> list[str]:
        """Stop the port-forwards; with destroy, also `pulumi destroy` the stack. Returns what was stopped."""
        stopped = self._stop_forwards(self.load_state(), progress)
        if destroy:
            progress(f"pulumi destroy (stack {self.stack})")
            self.driver.destroy(progress)
            stopped.append(f"stack {self.stack}")
        self.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, object]:
        state = self.load_state()
        if state is None:
            return {"up": False, "stack": self.stack}
        forwards = {p.name: {"pid": p.pid, "alive": is_alive(p), "log": p.log} for p in state.forwards}
        result: dict[str, object] = {"up": bool(forwards) and all(f["alive"] for f in forwards.values()),
                                     "stack": self.stack, "forwards": forwards, "outputs": state.outputs}
        if state.ports.get("router") and state.ports.get("prometheus"):
            result["endpoints"] = self._endpoints(state).__dict__
        return result

    # --- the run contract (targets/base.py) --------------------------------------------------
    def prepare(self, scenario: ScenarioBase, progress: Progress) -> bool:
        """Find the deployed stack and its versions, the route to drive, and open the port-forwards.

        Returns whether this run opened the forwards (teardown stops only those); it never deploys."""
        if self.load_from is not None and self.load_from not in LOAD_SOURCES:
            raise ClusterError(f"unknown load source {self.load_from!r} (choose {' or '.join(LOAD_SOURCES)})")
        uses = drift_uses(scenario)
        if uses:  # refused before any port-forward opens or traffic moves
            raise ClusterError(f"scenario {scenario.name}: {', '.join(uses)} need(s) the drift monitor, which runs "
                               "only on the local target so far (run it without --target, or drop the drift fields)")
        lab = find_lab(scenario, self.stack, self.driver)
        self.load_from = self.load_from or ("cluster" if lab.has_load_generator else "local")
        if self.load_from == "cluster" and not lab.has_load_generator:
            raise ClusterError(f"stack {self.stack} runs no load generator (rolloutlab:loadWorkers is 0); use --load local")
        self.lab = lab
        api = self.api or api_client(lab.context)
        mirroring = check_mirroring(scenario, lab, api)
        if mirroring:
            progress(mirroring)
        self._router = cluster_router(scenario, lab, api)
        progress(f"HTTPRoute {lab.names.namespace}/{lab.names.httproute} serves {self._router.current().describe()}")
        self.opened_here = not self.status().get("up")
        try:
            self.connect(ready_timeout=self.ready_timeout, progress=progress)
        except NotReady as exc:
            raise ClusterError(f"the lab on stack {self.stack} cannot be reached through kubectl port-forward: {exc}\n"
                               f"(are its pods running? `kubectl -n {lab.names.namespace} get pods`)") from None
        if scenario.gates is not None:
            self.forward_versions(scenario.versions.all, self.ready_timeout, progress)
        return self.opened_here

    def _lab(self) -> ClusterLab:
        if self.lab is None:
            raise ClusterError(f"stack {self.stack}: prepare() has not found the deployed lab yet")
        return self.lab

    def endpoints(self) -> Endpoints:
        state = self.load_state()
        if not state or not state.ports.get("router"):
            raise ClusterError(f"the lab is not connected on stack {self.stack}; run `rolloutlab cluster connect "
                               f"--stack {self.stack}`")
        return self._endpoints(state)

    def router(self) -> RouteAndStableRouter:
        if self._router is None:
            raise ClusterError(f"stack {self.stack}: prepare() has not found the route yet")
        return self._router

    def metrics(self) -> ForwardedPrometheus:
        return ForwardedPrometheus(self.endpoints().prometheus_url, self)

    def prediction_log(self, version: str) -> Path:
        """The version's pods' prediction logs as of now (`kubectl logs` of every pod, JSON lines kept)."""
        lab = self._lab()
        selector = ",".join(f"{k}={v}" for k, v in lab.names.version_labels(version).items())
        context = ["--context", lab.context] if lab.context else []
        argv = [self._kubectl(), *context, "--namespace", lab.names.namespace, "logs", "--selector", selector,
                "--tail=-1", "--max-log-requests=20"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterError(f"kubectl logs of {version}'s pods failed: {exc}") from None
        if done.returncode != 0:
            raise ClusterError(f"kubectl logs of {version}'s pods failed: {done.stderr.strip()[-300:]}")
        path = self.dir / "predictions" / f"{version}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        # A pod's log also holds the server's own lines; the prediction log's are the JSON objects.
        path.write_text("".join(line + "\n" for line in done.stdout.splitlines() if line.startswith("{")),
                        encoding="utf-8")
        return path

    def load(self, spec: LoadSpec, run_dir: Path, progress: Progress) -> ClusterSwarm | LocustRunner:
        if self.load_from == "cluster":
            progress(f"load: the in-cluster Locust master, {spec.users} users × {spec.rate_per_user:g} req/s, "
                     f"shape {spec.shape}, seed {spec.seed}")
            return ClusterSwarm(self, spec, max_seconds=spec.max_seconds, keep_duration=spec.duration is not None)
        return LocustRunner(spec, run_dir / "load")

    def retire(self, version: str) -> str:
        return keep_running(self._lab())(version)

    def describe(self) -> dict[str, object]:
        lab, endpoints = self._lab(), self.endpoints()
        return {"kind": self.kind, "stack": lab.stack, "context": lab.context, "deployed": list(lab.deployed),
                "router": endpoints.router_url, "prometheus": endpoints.prometheus_url, "load": self.load_from}

    def after_run(self, router: TrafficRouter, journal: Journal, progress: Progress) -> Callable[[Engine], None]:
        assert isinstance(router, RouteAndStableRouter), router
        return record_back(self._lab(), self.work_dir, router, journal, progress)

    def teardown(self, progress: Progress) -> None:
        if self.opened_here:
            self.down(destroy=False, progress=progress)

    # --- load in the cluster -----------------------------------------------------------------
    def load_url(self) -> str:
        state = self.load_state()
        if not state or not state.ports:
            raise LoadError(f"the lab is not up on stack {self.stack}; run `rolloutlab cluster up --stack {self.stack}`")
        if "load" not in state.ports:
            raise LoadError(f"stack {self.stack} runs no load generator (rolloutlab:loadWorkers is 0)")
        return f"http://127.0.0.1:{state.ports['load']}"

    def load_master(self) -> LocustMaster:
        """The in-cluster Locust master's web API, through its port-forward."""
        return LocustMaster(self.load_url(), int(self._load_output().get("workers", 1)))

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0,
                   fields: dict[str, str] | None = None) -> None:
        """Start the in-cluster Locust master's swarm once its workers have connected (Locust's web API)."""
        self.load_master().start_load(users, spawn_rate, workers, timeout, fields)

    def stop_load(self) -> None:
        try:
            self.load_master().stop_load()
            return
        except LoadError as exc:
            failure = str(exc)
        # A dropped forward must not leave the in-cluster load running: re-establish it and ask again.
        # (Should that fail too, the master still ends the test itself when the heartbeat stops.)
        try:
            self.reforward("load")
            self.load_master().stop_load()
        except (ClusterError, LoadError) as again:
            raise LoadError(f"{failure}; then: {again}") from None

    def heartbeat_load(self) -> dict[str, Any]:
        return self.load_master().heartbeat_load()

    def load_stats(self) -> dict[str, Any]:
        """The master's aggregated statistics (Locust's /stats/requests JSON)."""
        return self.load_master().load_stats()

    def _load_output(self) -> dict[str, Any]:
        state = self.load_state()
        return ((state.outputs if state else {}).get("endpoints") or {}).get("load") or {}

