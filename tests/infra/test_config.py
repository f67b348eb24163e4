"""The stack config: Pulumi.yaml declares exactly what config.py reads, with the same defaults; bad values are named."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import yaml

from rolloutlab.errors import ClusterError
from rolloutlab.infra.config import StackConfig, config_keys, parse_config
from rolloutlab.infra.routing_record import RoutingRecord
from tests.infra.conftest import PROJECT


def _declared() -> dict[str, dict]:
    return yaml.safe_load((PROJECT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]


def _stack_values(stack: str) -> dict[str, str]:
    """A stack file's rolloutlab:* values as the strings Pulumi passes to the program."""
    data = yaml.safe_load((PROJECT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    return {key.split(":", 1)[1]: value if isinstance(value, str) else json.dumps(value)
            for key, value in data.items()}


def test_pulumi_yaml_declares_every_key_with_the_defaults_config_py_uses() -> None:
    declared = _declared()
    assert set(declared) == set(config_keys())
    defaults = StackConfig()
    for field in fields(StackConfig):
        entry = declared[StackConfig.key(field.name)]
        expected = getattr(defaults, field.name)
        default = tuple(entry["default"]) if isinstance(expected, tuple) else entry["default"]
        if isinstance(expected, RoutingRecord):
            expected = expected.to_config()
        assert default == expected, f"Pulumi.yaml default of {StackConfig.key(field.name)}"
        kind = {bool: "boolean", int: "integer", str: "string", tuple: "array", dict: "object"}[type(expected)]
        assert entry["type"] == kind, StackConfig.key(field.name)


@pytest.mark.parametrize("stack, cluster, context", [
    ("kind", "kind", "kind-rolloutlab"),
    ("minikube", "minikube", "rolloutlab"),
    ("existing", "existing", ""),
])
def test_shipped_stack_files_parse(stack: str, cluster: str, context: str) -> None:
    config = parse_config(_stack_values(stack), stack)
    assert config.cluster == cluster
    assert config.kube_context_name == context
    assert config.versions == ("v1", "v2")


def test_values_are_typed_from_their_strings() -> None:
    config = parse_config({"versions": '["v2", "v1", "v3"]', "loadWorkers": "4", "loadImages": "false",
                           "replicas": "2", "cluster": "minikube", "loadImage": "my/load:1"})
    assert config.versions == ("v2", "v1", "v3")
    assert (config.load_workers, config.load_images, config.replicas) == (4, False, 2)


@pytest.mark.parametrize("raw, needles", [
    ({"clustr": "kind"}, ["rolloutlab:clustr", "unknown config key", "Pulumi.kind.yaml"]),
    ({"cluster": "k3d"}, ["rolloutlab:cluster", "kind, minikube, existing", "'k3d'"]),
    ({"loadImages": "yes"}, ["rolloutlab:loadImages", "true or false"]),
    ({"replicas": "two"}, ["rolloutlab:replicas", "whole number"]),
    ({"replicas": "0"}, ["rolloutlab:replicas", "at least 1"]),
    ({"loadWorkers": "-1"}, ["rolloutlab:loadWorkers", "0 or more"]),
    ({"versions": "v1,v2"}, ["rolloutlab:versions", "list of strings"]),
    ({"versions": "[]"}, ["rolloutlab:versions", "at least one"]),
    ({"versions": '["v1", "v1"]'}, ["rolloutlab:versions", "repeats v1"]),
    ({"versions": '["v_1"]'}, ["rolloutlab:versions", "'v_1'"]),
    ({"namespace": "Roll Out"}, ["rolloutlab:namespace", "DNS label"]),
    ({"imagePullPolicy": "always"}, ["rolloutlab:imagePullPolicy", "IfNotPresent"]),
    ({"cluster": "existing"}, ["rolloutlab:loadImages", "must be false on an existing cluster", "rolloutlab:registry"]),
    ({"cluster": "existing", "loadImages": "false"}, ["rolloutlab:loadImage", "Dockerfile", "rolloutlab:loadWorkers"]),
    ({"loadEnv": '["USERS=3"]'}, ["rolloutlab:loadEnv", "'USERS=3'", "ROLLOUTLAB_NAME=value"]),
    ({"loadEnv": '["ROLLOUTLAB_WORKERS=3"]'}, ["rolloutlab:loadEnv", "ROLLOUTLAB_WORKERS", "the stack sets itself"]),
])
def test_bad_values_name_the_key_and_the_stack_file(raw: dict[str, str], needles: list[str]) -> None:
    with pytest.raises(ClusterError) as caught:
        parse_config(raw, "kind")
    message = str(caught.value)
    assert "stacks/Pulumi.kind.yaml" in message
    for needle in needles:
        assert needle in message
