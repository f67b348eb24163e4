"""The model zoo: the version catalogue (models/versions.yaml), content-tagged builds, evaluation, images.

    load_catalogue() -> Catalogue          versions by name, .bento_tag(name), .require(names), .service, .model
    ensure_built(names) -> list[str]       build what is missing (refusing changed entries); returns those built
    is_built(catalogue, name)              the store holds this entry's current content
    holdout_path()                         held-out rows (JSON) written by the first build
    evaluation(catalogue, name)            offline accuracy/F1/latency recorded at build time
"""

from __future__ import annotations

from rolloutlab.paths import bentoml_home
from rolloutlab.zoo.builder import ensure_built, holdout_path, is_built, stale_builds
from rolloutlab.zoo.catalogue import Catalogue, VersionSpec, load_catalogue
from rolloutlab.zoo.evaluation import evaluation

__all__ = [
    "Catalogue", "VersionSpec", "bentoml_home", "ensure_built", "evaluation", "holdout_path", "is_built",
    "load_catalogue", "stale_builds",
]
