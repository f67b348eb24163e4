"""The version catalogue: the shipped entries, `base` resolution, and file:line errors for bad entries."""

from __future__ import annotations

import re
import textwrap
import typing
from pathlib import Path

import pytest

from rolloutlab.errors import CatalogueError
from rolloutlab.zoo import load_catalogue
from rolloutlab.zoo.schema import Algorithm
from rolloutlab.zoo.scripts import load_script


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "versions.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """\
    model: digits
    service: digits-classifier
    versions:
      v1:
        recipe: {algorithm: logistic_regression, params: {C: 0.01}}
"""


def test_shipped_catalogue_has_good_models_and_every_fault_variant() -> None:
    catalogue = load_catalogue()
    assert {"v1", "v2", "v3", "slow", "tail-slow", "flaky", "degraded", "leaky", "cold"} <= set(catalogue.versions)
    faults = {name: spec.faults.kinds() for name, spec in catalogue.versions.items()}
    assert faults["v1"] == faults["v2"] == faults["v3"] == []
    assert faults["slow"] == faults["tail-slow"] == ["latency"]
    assert faults["flaky"] == ["errors"] and faults["degraded"] == ["corrupt_labels"]
    assert faults["leaky"] == ["leak"] and faults["cold"] == ["cold_start"]
    assert catalogue.versions["tail-slow"].faults.latency.fraction < 0.05  # only the tail: p95 untouched


def test_fault_variants_reuse_the_recipe_of_their_base() -> None:
    catalogue = load_catalogue()
    for name in ("slow", "flaky", "degraded", "leaky", "cold"):
        spec = catalogue.versions[name]
        assert spec.base == "v2" and spec.recipe_from == "v2"
        assert spec.recipe == catalogue.versions["v2"].recipe


def test_tags_keep_the_name_and_add_a_content_hash() -> None:
    catalogue = load_catalogue()
    tag = catalogue.bento_tag("v2")
    service, version = tag.split(":")
    assert service == "digits-classifier"
    assert version.startswith("v2-") and len(version) == len("v2-") + 12
    assert catalogue.model_tag("v2") == f"digits:{version}"


def test_catalogue_env_variable_points_at_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUTLAB_CATALOGUE", str(write(tmp_path, MINIMAL)))
    assert list(load_catalogue().versions) == ["v1"]


def test_require_names_the_unknown_versions_and_the_known_ones() -> None:
    with pytest.raises(CatalogueError, match=r"unknown model version\(s\) nope .*has: .*v1"):
        load_catalogue().require(["v1", "nope"])


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("v9:\n    recipe: {algorithm: svm}", r":7: versions\.v9\.recipe\.algorithm \(version v9\): Input should be"),
        ("v9:\n    recipe: {algorithm: svc}\n    faults: {latency: {median_ms: -5}}",
         r":8: versions\.v9\.faults\.latency\.median_ms \(version v9\): Input should be greater than 0"),
        ("v9:\n    recipe: {algorithm: svc}\n    faults: {errors: {rate: 0.1, status: 404}}",
         r"versions\.v9\.faults\.errors\.status \(version v9\): Input should be greater than or equal to 500"),
        ("v9:\n    recipe: {algorithm: svc}\n    faults: {slowness: 1}",
         r"versions\.v9\.faults\.slowness \(version v9\): unknown field"),
        ("v9:\n    base: v1\n    recipe: {algorithm: svc}", r"versions\.v9 \(version v9\): give exactly one of `recipe`"),
        ("v9:\n    description: no recipe", r"versions\.v9 \(version v9\): give exactly one of `recipe`"),
        ("V9:\n    base: v1", r"versions\.V9 \(version V9\): \"V9\" is not a valid name: lowercase"),
        ("v9:\n    base: nope", r":7: versions\.v9\.base: unknown version 'nope'"),
        ("v9:\n    base: v10\nv10:\n    base: v9", r"versions\.v9\.base: a cycle of bases \(v9 → v10 → v9\)"),
    ],
)
def test_invalid_entries_name_the_file_line_version_and_field(tmp_path: Path, entry: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL + textwrap.indent(entry, "      ") + "\n")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(path) in str(caught.value)
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_missing_top_level_fields_and_non_mapping_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"service: required field is missing"):
        load_catalogue(write(tmp_path, "model: digits\nversions: {v1: {base: v1}}\n"))
    with pytest.raises(CatalogueError, match=r"must be a YAML mapping"):
        load_catalogue(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(CatalogueError, match=r"not valid YAML"):
        load_catalogue(write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(CatalogueError, match=r"cannot read model catalogue"):
        load_catalogue(tmp_path / "missing.yaml")


def test_schema_algorithms_match_the_training_code() -> None:
    assert set(typing.get_args(Algorithm)) == set(load_script("training").ALGORITHMS)
