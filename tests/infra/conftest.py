"""Run the Pulumi program under `pulumi.runtime.set_mocks` (no CLI, no cluster) and validate what it would create.

The mocks record every resource's inputs exactly as the engine would receive them; the helpers turn
those into Kubernetes manifests and validate them against the Kubernetes schemas (kubernetes-validate)
and the Gateway API CRDs' openAPIV3Schema (v1.6.1, tests/crds/).
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml

from tests.conftest import GATEWAY_API_CRDS

PROJECT = Path(__file__).resolve().parents[2]
PROGRAM = PROJECT / "stacks" / "__main__.py"
KUBERNETES_VERSION = "1.33.0"  # the schema version manifests must be valid for (kind's node images ≥ 1.33)
FAKE_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


@dataclass(frozen=True)
class Registered:
    """One resource registration as the mocked engine saw it."""

    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None

    @property
    def kind(self) -> str:
        return str(self.inputs.get("kind", ""))

    @property
    def object_name(self) -> str:
        return str((self.inputs.get("metadata") or {}).get("name", ""))

    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object these inputs describe (Pulumi-only keys dropped)."""
        return _integral({k: v for k, v in self.inputs.items() if not k.startswith("__")})


def _integral(value: Any) -> Any:
    """Whole-number floats back to ints: the engine's protobuf Struct carries every number as a double."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


class CapturingMocks(pulumi.runtime.Mocks):
    """Mocks that echo inputs as outputs (as a create would) and record every registration."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            # The stack's reference to itself (infra/deployed_images.py): a stack never deployed has no outputs.
            outputs.update(outputs={}, secretOutputNames=[])
        if args.typ == "command:local:Command":
            outputs["stdout"] = FAKE_KUBECONFIG
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


@dataclass
class ProgramRun:
    """The resources one run of stacks/__main__.py registered, and the program's globals."""

    resources: list[Registered]
    program: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def objects(self, kind: str) -> dict[str, Registered]:
        """Kubernetes objects of a kind, by metadata.name."""
        return {r.object_name: r for r in self.resources if r.typ.startswith("kubernetes:") and r.kind == kind}

    def one(self, kind: str, name: str) -> dict[str, Any]:
        objects = self.objects(kind)
        assert name in objects, f"no {kind} named {name}; have {sorted(objects)}"
        return objects[name].manifest()


def start_mocks(stack: str, config: dict[str, Any]) -> CapturingMocks:
    """Fresh mocks and config: values are encoded as Pulumi hands them to a program (JSON for lists/bools)."""
    mocks = CapturingMocks()
    pulumi.runtime.set_mocks(mocks, project="rolloutlab", stack=stack, preview=False)
    pulumi.runtime.set_all_config({
        f"rolloutlab:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    })
    return mocks


def run_program(stack: str = "kind", **config: Any) -> ProgramRun:
    """Run the real Pulumi program once under mocks with the given `rolloutlab:*` config."""
    mocks = start_mocks(stack, config)
    run = ProgramRun(mocks.resources, {})

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        run.program.update(runpy.run_path(str(PROGRAM), run_name="__main__"))
        lab = run.program["lab"]
        return lab.endpoints.apply(lambda endpoints: run.outputs.update(endpoints=endpoints))

    program()
    return run


@pytest.fixture()
def holdout(tmp_path: Path) -> Path:
    """A small held-out rows file in the shape models/build.py writes."""
    path = tmp_path / "holdout.json"
    path.write_text(json.dumps([{"features": [0.0] * 64, "label": 0}, {"features": [1.0] * 64, "label": 1}]))
    return path


# --- schema validation ----------------------------------------------------------------------------
def validate_core(manifest: dict[str, Any]) -> None:
    """Raise unless manifest is a valid object of a core Kubernetes kind (strict: no unknown fields)."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@cache
def _gateway_api_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted(GATEWAY_API_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate_gateway_api(manifest: dict[str, Any]) -> None:
    """Raise unless manifest matches its Gateway API CRD's openAPIV3Schema (v1.6.1 standard channel)."""
    schema = _gateway_api_schemas().get((manifest["apiVersion"], manifest["kind"]))
    assert schema is not None, f"no CRD schema for {manifest['apiVersion']} {manifest['kind']}"
    jsonschema.validate(manifest, schema, cls=jsonschema.Draft7Validator)
