"""The lab's Pulumi project, as a testbed stack in a temporary directory, driven with the Automation API.

The program is the checkout's own (stacks/, linked), Pulumi.yaml is the checkout's with its config
declarations, only the stack config directory and the backend moved to the temp dir, so nothing in
the checkout is written. The stack is an `existing` cluster (the testbed's context `realk8s`), Envoy
Gateway not installed (its CRDs are applied by the fixture; its pods could not run anyway), no load
generator (no image to run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

# Named like the shipped stack for an existing cluster, so `rolloutlab run --target existing` finds it
# (with ROLLOUTLAB_PROJECT pointing at this project).
STACK = "existing"
STACK_CONFIG = {
    "rolloutlab:cluster": "existing",
    "rolloutlab:kubeContext": "realk8s",
    "rolloutlab:loadImages": False,
    "rolloutlab:installEnvoyGateway": False,
    "rolloutlab:loadWorkers": 0,
    "rolloutlab:versions": ["v1", "v2"],
}


def make_project(project: Path, into: Path, backend: str) -> Path:
    """Write the temporary project (Pulumi.yaml, program link, config/Pulumi.testbed.yaml); returns its dir."""
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8"))
    settings.update(main="program/", stackConfigDir="config", backend={"url": backend})
    into.mkdir(parents=True, exist_ok=True)
    (into / "program").symlink_to(project / "stacks", target_is_directory=True)
    for shared in ("models", "experiments", "loadtests"):  # so the CLI takes this dir as a project (ROLLOUTLAB_PROJECT)
        (into / shared).symlink_to(project / shared, target_is_directory=True)
    (into / "config").mkdir()
    (into / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (into / "config" / f"Pulumi.{STACK}.yaml").write_text(
        yaml.safe_dump({"config": STACK_CONFIG}, sort_keys=False), encoding="utf-8")
    return into


@dataclass
class Steps:
    """What one operation planned or did, per resource (from the engine's events)."""

    ops: dict[str, str] = field(default_factory=dict)  # urn -> op of the step (refresh steps kept apart)
    refreshed: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def on_event(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            op = str(pre.metadata.op.value if hasattr(pre.metadata.op, "value") else pre.metadata.op)
            (self.refreshed if op == "refresh" else self.ops)[pre.metadata.urn] = op

    def on_output(self, line: str) -> None:
        self.output.append(line)

    def op_of(self, type_suffix: str, name: str) -> str:
        """The op planned for the resource named `name` whose type ends with `type_suffix`."""
        found = [op for urn, op in self.ops.items()
                 if urn.split("::")[-1] == name and urn.split("::")[-2].endswith(type_suffix)]
        assert len(found) == 1, f"expected one {type_suffix} {name} step, got {found} of {sorted(self.ops)}"
        return found[0]

    def changed(self) -> dict[str, str]:
        """Resources whose step is anything but 'same' (reads of the StackReference excluded)."""
        return {urn: op for urn, op in self.ops.items() if op not in ("same", "read")}

    def text(self) -> str:
        return "\n".join(self.output)


def select(work_dir: Path, env: Mapping[str, str]) -> auto.Stack:
    return auto.create_or_select_stack(stack_name=STACK, work_dir=str(work_dir),
                                       opts=auto.LocalWorkspaceOptions(env_vars=dict(env)))


def up(stack: auto.Stack, **kwargs: Any) -> tuple[auto.UpResult, Steps]:
    steps = Steps()
    result = stack.up(on_event=steps.on_event, on_output=steps.on_output, color="never", **kwargs)
    return result, steps


def preview(stack: auto.Stack, **kwargs: Any) -> tuple[auto.PreviewResult, Steps]:
    steps = Steps()
    result = stack.preview(on_event=steps.on_event, on_output=steps.on_output, color="never", **kwargs)
    return result, steps
