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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from rolloutlab.errors import ClusterError, LoadError
from rolloutlab.paths import project_root, write_atomically
from rolloutlab.targets.local import Endpoints
from rolloutlab.targets.processes import (
    ProcessRecord,
    free_port,
    is_alive,
    spawn,
    stop,
    wait_until_ready,
)

Progress = Callable[[str], None]
STACKS = ("kind", "minikube", "existing")
# What each forward reaches (a key of the stack's `endpoints` output) and the path that proves it works.
FORWARDS = {"router": "/readyz", "prometheus": "/-/ready", "load": "/"}


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

    def __init__(self, home: Path, stack: str = "kind", driver: StackDriver | None = None,
                 kubectl: str | None = None) -> None:
        if stack not in STACKS:
            raise ClusterError(f"unknown Kubernetes stack {stack!r} (stacks: {', '.join(STACKS)})")
        self.stack = stack
        self.driver: StackDriver = driver or PulumiStack(stack)
        self.kubectl = kubectl
        self.dir = home / "cluster" / stack
        self.state_file = self.dir / "state.json"

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
        context = (outputs.get("cluster") or {}).get("context", "")
        state = ClusterState(self.stack, outputs=outputs)
        checks: dict[str, tuple[ProcessRecord, str]] = {}
        try:
            for role, path in FORWARDS.items():
                target = endpoints.get(role)
                if not target:
                    continue  # e.g. no load generator when loadWorkers is 0
                port = free_port()
                argv = [kubectl, *(["--context", context] if context else []), "--namespace", target["namespace"],
                        "port-forward", "--address", "127.0.0.1", f"service/{target['service']}",
                        f"{port}:{target['port']}"]
                record = spawn(f"forward {role}", argv, self.dir / "logs" / f"forward-{role}.log")
                state.ports[role] = port
                state.forwards.append(record)
                self._save(state)
                checks[record.name] = (record, f"http://127.0.0.1:{port}{path}")
                progress(f"forwarding 127.0.0.1:{port} to {target['service']}.{target['namespace']} (pid {record.pid})")
            wait_until_ready(checks, timeout, lambda name, s: progress(f"{name} answers after {s:.1f}s"))
        except BaseException:
            self._stop_forwards(state)
            raise
        return self._endpoints(state)

    def _endpoints(self, state: ClusterState) -> Endpoints:
        endpoints = state.outputs.get("endpoints") or {}
        return Endpoints(
            router_url=f"http://127.0.0.1:{state.ports['router']}",
            prometheus_url=f"http://127.0.0.1:{state.ports['prometheus']}",
            versions=dict(endpoints.get("versions") or {}),
        )

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

    # --- load in the cluster -----------------------------------------------------------------
    def load_url(self) -> str:
        state = self.load_state()
        if not state or not state.ports:
            raise LoadError(f"the lab is not up on stack {self.stack}; run `rolloutlab cluster up --stack {self.stack}`")
        if "load" not in state.ports:
            raise LoadError(f"stack {self.stack} runs no load generator (rolloutlab:loadWorkers is 0)")
        return f"http://127.0.0.1:{state.ports['load']}"

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0) -> None:
        """Start the in-cluster Locust master's swarm once its workers have connected (Locust's web API)."""
        url = self.load_url()
        expected = workers if workers is not None else int(self._load_output().get("workers", 1))
        deadline = time.monotonic() + timeout
        while True:
            connected = len(self._get_json(f"{url}/stats/requests").get("workers", []))
            if connected >= expected:
                break
            if time.monotonic() > deadline:
                raise LoadError(f"only {connected} of {expected} Locust workers connected to the master after {timeout:.0f}s")
            time.sleep(1)
        response = requests.post(f"{url}/swarm", data={"user_count": users, "spawn_rate": spawn_rate}, timeout=10)
        if response.status_code != 200 or not response.json().get("success", False):
            raise LoadError(f"the Locust master refused to start: HTTP {response.status_code} {response.text[:200]}")

    def stop_load(self) -> None:
        requests.post(f"{self.load_url()}/stop", timeout=10).raise_for_status()

    def load_stats(self) -> dict[str, Any]:
        """The master's aggregated statistics (Locust's /stats/requests JSON)."""
        return self._get_json(f"{self.load_url()}/stats/requests")

    def _load_output(self) -> dict[str, Any]:
        state = self.load_state()
        return ((state.outputs if state else {}).get("endpoints") or {}).get("load") or {}

    @staticmethod
    def _get_json(url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=10)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise LoadError(f"the Locust master at {url} did not answer: {exc}") from None

