"""`rolloutlab models build|list|show|eval` against a real BentoML store: immutable, content-tagged versions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import yaml

from rolloutlab import zoo
from rolloutlab.paths import bentoml_home
from tests.integration.conftest import rolloutlab

PROBE = """\
model: digits
service: digits-classifier
versions:
  probe:
    description: a small logistic regression made for this test
    recipe: {algorithm: logistic_regression, params: {C: 0.01, max_iter: 2000}}
  probe-slow:
    base: probe
    faults: {latency: {median_ms: 5}}
"""


def catalogue(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "versions.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return {"ROLLOUTLAB_CATALOGUE": str(path)}


def bento_path(tag: str) -> Path:
    service, version = tag.split(":")
    return bentoml_home() / "bentos" / service / version


def test_a_version_builds_once_and_a_changed_entry_is_refused_until_replaced(home: Path, tmp_path: Path) -> None:
    env = catalogue(tmp_path, PROBE)
    first = rolloutlab("models", "build", "probe", env=env)
    assert first.returncode == 0, first.stderr
    tag = first.stdout.strip().splitlines()[-1].split(":", 2)
    tag_text = f"{tag[0]}:{tag[1]}"
    assert tag_text.startswith("digits-classifier:probe-") and first.stdout.strip().endswith(": built")
    stamp = (bento_path(tag_text) / "bento.yaml").stat().st_mtime_ns

    again = rolloutlab("models", "build", "probe", env=env)
    assert again.returncode == 0 and again.stdout.strip() == f"{tag_text}: already built"
    assert (bento_path(tag_text) / "bento.yaml").stat().st_mtime_ns == stamp  # nothing was rebuilt

    changed = catalogue(tmp_path, PROBE.replace("C: 0.01", "C: 0.02"))
    refused = rolloutlab("models", "build", "probe", env=changed)
    assert refused.returncode == 1
    assert f"version 'probe' is already built as {tag_text}" in refused.stderr
    assert "recipe.params.C: 0.01 → 0.02" in refused.stderr and "--replace probe" in refused.stderr
    assert "versions.yaml:4" in refused.stderr  # the entry's file and line
    listed = json.loads(rolloutlab("models", "list", "--json", env=changed).stdout)
    assert {row["name"]: row["state"] for row in listed}["probe"] == "CHANGED"

    replaced = rolloutlab("models", "build", "--replace", "probe", env=changed)
    assert replaced.returncode == 0, replaced.stderr
    assert f"discarded {tag_text}" in replaced.stdout
    new_tag = json.loads(rolloutlab("models", "show", "probe", "--json", env=changed).stdout)["tag"]
    assert new_tag != tag_text and new_tag.startswith("digits-classifier:probe-")
    assert (bento_path(new_tag) / "bento.yaml").is_file() and not bento_path(tag_text).exists()


def test_faults_are_recorded_in_the_bentos_labels_and_metadata(home: Path, tmp_path: Path) -> None:
    env = catalogue(tmp_path, PROBE.replace("probe", "twin"))
    result = rolloutlab("models", "build", "twin", "twin-slow", env=env)  # two bentos in one build process
    assert result.returncode == 0, result.stderr
    for name in ("twin", "twin-slow"):
        shown = json.loads(rolloutlab("models", "show", name, "--json", env=env).stdout)
        version = shown["tag"].split(":")[1]
        bento = yaml.safe_load((bento_path(shown["tag"]) / "bento.yaml").read_text(encoding="utf-8"))
        assert bento["labels"]["faults"] == ("latency" if name == "twin-slow" else "none")
        assert bento["labels"]["rolloutlab-version"] == name
        assert bento["labels"]["content-hash"] == shown["content_hash"]
        # Each bento serves its own model and says so (not the first bento's of the run).
        assert [m["tag"] for m in bento["services"][0]["models"]] == [f"digits:{version}"]
        build_info = json.loads((bento_path(shown["tag"]) / "src" / "build.json").read_text(encoding="utf-8"))
        model = yaml.safe_load((bentoml_home() / "models" / "digits" / version / "model.yaml").read_text(encoding="utf-8"))
        assert build_info["name"] == name and build_info["faults"] == model["metadata"]["faults"]
        assert model["metadata"]["evaluation"]["accuracy"] == shown["evaluation"]["accuracy"]
    assert build_info["faults"]["latency"]["median_ms"] == 5


def test_an_invalid_entry_fails_build_naming_the_entry_and_field(home: Path, tmp_path: Path) -> None:
    env = catalogue(tmp_path, PROBE.replace("{median_ms: 5}", "{median_ms: 5, sigma: -1}"))
    result = rolloutlab("models", "build", env=env)
    assert result.returncode == 1
    assert "versions.probe-slow.faults.latency.sigma (version probe-slow): Input should be greater than or equal to 0" \
        in result.stderr
    assert "versions.yaml:9" in result.stderr and "Traceback" not in result.stderr


def test_parameters_the_algorithm_rejects_fail_the_build_naming_the_field(home: Path, tmp_path: Path) -> None:
    env = catalogue(tmp_path, PROBE.replace("max_iter: 2000", "max_iter: 2000, bogus: 1").replace("probe", "odd"))
    result = rolloutlab("models", "build", "odd-slow", env=env)
    assert result.returncode == 1
    assert "versions.odd.recipe.params (recipe of odd, used by odd-slow): logistic_regression:" in result.stderr
    assert "bogus" in result.stderr and "Traceback" not in result.stderr


def test_eval_reports_the_stored_offline_evaluation(home: Path) -> None:
    result = rolloutlab("models", "eval", "v1", "v2", "--json")
    assert result.returncode == 0, result.stderr
    evaluations = {e["name"]: e for e in json.loads(result.stdout)}
    assert evaluations["v2"]["accuracy"] > evaluations["v1"]["accuracy"] + 0.03  # v2 is genuinely better
    assert 0 < evaluations["v2"]["f1_macro"] <= 1 and evaluations["v2"]["holdout_rows"] == 540
    assert evaluations["v2"]["latency_ms"]["single_p50"] > 0
    assert evaluations["v2"] == zoo.evaluation(zoo.load_catalogue(), "v2")
    table = rolloutlab("models", "eval", "v1", "v2")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == ["NAME", "ACCURACY", "F1"]
