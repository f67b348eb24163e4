"""Content-derived version tags: stable for the same content, different when anything it is made of changes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from rolloutlab.zoo import identity, load_catalogue
from rolloutlab.zoo.identity import describe_changes

PROJECT = Path(__file__).resolve().parents[2]

CATALOGUE = """\
model: digits
service: digits-classifier
versions:
  a:
    description: first words
    recipe: {algorithm: svc, params: {C: 10.0, gamma: 0.001}}
  twin:
    description: other words, same content as a
    recipe: {algorithm: svc, params: {C: 10.0, gamma: 0.001}}
  slow:
    base: a
    faults: {latency: {median_ms: 60}}
"""


def catalogue_file(tmp_path: Path, text: str = CATALOGUE) -> Path:
    path = tmp_path / "versions.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_same_content_gives_the_same_tag_every_time(tmp_path: Path) -> None:
    path = catalogue_file(tmp_path)
    assert load_catalogue(path).bento_tag("slow") == load_catalogue(path).bento_tag("slow")


def test_the_hash_covers_content_not_name_or_description(tmp_path: Path) -> None:
    catalogue = load_catalogue(catalogue_file(tmp_path))
    assert catalogue.identity("a").digest == catalogue.identity("twin").digest
    assert catalogue.version_string("a") != catalogue.version_string("twin")  # the name stays in the tag


def test_a_changed_recipe_param_changes_the_tag_and_says_what_changed(tmp_path: Path) -> None:
    before = load_catalogue(catalogue_file(tmp_path))
    after = load_catalogue(catalogue_file(tmp_path, CATALOGUE.replace("C: 10.0, gamma", "C: 5.0, gamma", 1)))
    assert before.bento_tag("a") != after.bento_tag("a")
    assert before.bento_tag("twin") == after.bento_tag("twin")
    assert describe_changes(before.identity("a").manifest, after.identity("a").manifest) == [
        "recipe.params.C: 10.0 → 5.0"
    ]
    # slow reuses a's recipe, so it changes with it.
    assert before.bento_tag("slow") != after.bento_tag("slow")


def test_a_changed_fault_changes_the_tag(tmp_path: Path) -> None:
    before = load_catalogue(catalogue_file(tmp_path))
    after = load_catalogue(catalogue_file(tmp_path, CATALOGUE.replace("median_ms: 60", "median_ms: 80")))
    assert before.bento_tag("slow") != after.bento_tag("slow")
    assert describe_changes(before.identity("slow").manifest, after.identity("slow").manifest) == [
        "faults.latency.median_ms: 60.0 → 80.0"
    ]
    added = load_catalogue(catalogue_file(tmp_path, CATALOGUE.replace("{median_ms: 60}", "{median_ms: 60}, seed: 3")))
    assert describe_changes(before.identity("slow").manifest, added.identity("slow").manifest) == [
        "faults.seed: 0 → 3"
    ]


def test_changed_serving_code_changes_every_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = catalogue_file(tmp_path)
    before = load_catalogue(path).identity("a")
    models = tmp_path / "models"
    shutil.copytree(PROJECT / "models", models)
    monkeypatch.setattr(identity, "models_dir", lambda: models)
    assert load_catalogue(path).identity("a").digest == before.digest  # a copy is the same content
    with open(models / "service.py", "a", encoding="utf-8") as service:
        service.write("\n# a change\n")
    after = load_catalogue(path).identity("a")
    assert after.digest != before.digest
    assert describe_changes(before.manifest, after.manifest) == ["models/service.py changed"]


def test_library_versions_are_part_of_the_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = catalogue_file(tmp_path)
    before = load_catalogue(path).identity("a")
    runtime = {**identity.runtime_fingerprint(), "scikit-learn": "0.0.1"}
    monkeypatch.setattr(identity, "runtime_fingerprint", lambda: runtime)
    after = load_catalogue(path).identity("a")
    assert after.digest != before.digest
    assert describe_changes(before.manifest, after.manifest)[0].startswith("runtime.scikit-learn: ")


def test_the_digits_data_file_is_fingerprinted() -> None:
    data = identity.data_fingerprint()
    assert data["dataset"] == "sklearn.datasets.load_digits"
    assert len(data["sha256"]) == 64
