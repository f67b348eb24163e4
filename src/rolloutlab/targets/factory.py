"""The one place that picks a Target: `local`, or a Kubernetes stack by name (kind, minikube, existing)."""

from __future__ import annotations

from pathlib import Path

from rolloutlab.errors import ClusterError
from rolloutlab.targets.base import Target

LOCAL = "local"


def target_for(name: str, home: Path, *, keep_up: bool = False, router_port: int | None = None,
               ready_timeout: float = 90.0, load_from: str | None = None) -> Target:
    """The target a run named: keep_up / router_port are the local target's, load_from a cluster's."""
    if name == LOCAL:
        from rolloutlab.targets.local import LocalTarget

        return LocalTarget(home, keep_up=keep_up, router_port=router_port, ready_timeout=ready_timeout)
    from rolloutlab.targets.kubernetes import STACKS, KubernetesTarget

    if name not in STACKS:
        raise ClusterError(f"unknown target {name!r} (targets: {LOCAL}, {', '.join(STACKS)})")
    return KubernetesTarget(home, name, load_from=load_from, ready_timeout=ready_timeout)
