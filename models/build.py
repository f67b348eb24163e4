"""Build model versions from the catalogue into the BentoML store: `python models/build.py v1 v2`.

Runs in its own process with BENTOML_HOME set by the caller, so the lab's store stays separate.
A version already built is left untouched: versions are immutable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import training  # noqa: E402  (models/ is a folder of scripts, not a package)


def load_catalogue(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def build_version(catalogue: dict[str, Any], version: str) -> str:
    import bentoml
    import joblib

    entry = catalogue["versions"][version]
    model_tag = f"{catalogue['model']}:{version}"
    bento_tag = f"{catalogue['service']}:{version}"
    try:
        bentoml.bentos.get(bento_tag)
        return f"{bento_tag} already built"
    except bentoml.exceptions.NotFound:
        pass
    try:
        bentoml.models.get(model_tag)
    except bentoml.exceptions.NotFound:
        model = training.train(entry["recipe"])
        with bentoml.models.create(
            model_tag,
            labels={"version": version, "algorithm": entry["recipe"]["algorithm"]},
            metadata={"holdout_accuracy": training.accuracy(model), "recipe": entry["recipe"]},
        ) as stored:
            joblib.dump(model, stored.path_of("model.joblib"))
    with tempfile.TemporaryDirectory(prefix="rolloutlab-build-") as context:
        shutil.copy(HERE / "service.py", context)
        build_info = {
            "service": catalogue["service"],
            "version": version,
            "model_tag": model_tag,
            "n_features": training.N_FEATURES,
        }
        Path(context, "build.json").write_text(json.dumps(build_info), encoding="utf-8")
        pins = [f"{pkg}=={installed_version(pkg)}" for pkg in ("scikit-learn", "joblib", "numpy")]
        bento = bentoml.bentos.build(
            "service:DigitsClassifier",
            version=version,
            build_ctx=context,
            include=["service.py", "build.json"],
            labels={"model_version": version},
            python={"packages": pins},
        )
    return f"{bento.tag} built"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("versions", nargs="+")
    parser.add_argument("--catalogue", type=Path, default=HERE / "versions.yaml")
    parser.add_argument("--holdout", type=Path, help="also write the held-out rows here (JSON)")
    args = parser.parse_args()
    catalogue = load_catalogue(args.catalogue)
    for version in args.versions:
        print(build_version(catalogue, version), flush=True)
    if args.holdout:
        args.holdout.write_text(json.dumps(training.holdout_rows()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
