"""Build model versions into the BentoML store from a build plan written by rolloutlab.zoo.

    python models/build.py --plan plan.json [--holdout rows.json]

Each plan item names a catalogue version, its content-derived tags, recipe, faults and manifest. Runs in
its own process with BENTOML_HOME set by the caller. For each item: train, evaluate on the held-out
split, save the model `digits:<name>-<hash>` and build the bento `digits-classifier:<name>-<hash>`,
whose src/build.json records everything the server needs (and what the version is made of).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import training  # noqa: E402  (models/ is a folder of scripts, not a package)

ERROR_MARK = "ROLLOUTLAB-BUILD-ERROR "
# Files the bento's src/ holds: the server and what it imports.
SERVING_FILES = ("service.py", "faults.py", "payloads.py", "request_body.py", "json_errors.py", "request_memory.py",
                 "prediction_log.py")
# What the server imports at run time; pinned with their dependencies to the versions built and tested here.
SERVING_ROOTS = ("bentoml", "scikit-learn", "joblib", "numpy")


def pinned_requirements(roots: tuple[str, ...] = SERVING_ROOTS) -> list[str]:
    """`name==version` for the roots and everything they need, as installed in this environment.

    Pinning from the environment (instead of letting BentoML lock against PyPI) keeps the build offline
    and makes the container install exactly the versions the tests ran against.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset()) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # an optional dependency for another platform or Python
        pins[canonicalize_name(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def save_model(item: dict[str, Any], model: Any, evaluation: dict[str, Any]) -> None:
    import bentoml
    import joblib

    try:
        bentoml.models.get(item["model_tag"])
        return  # the same content was saved by an earlier, interrupted build
    except bentoml.exceptions.NotFound:
        pass
    with bentoml.models.create(
        item["model_tag"],
        labels={"rolloutlab-version": item["name"], "content-hash": item["digest"],
                "algorithm": item["recipe"]["algorithm"]},
        metadata={"evaluation": evaluation, "recipe": item["recipe"], "faults": item["faults"],
                  "manifest": item["manifest"]},
    ) as stored:
        joblib.dump(model, stored.path_of("model.joblib"))


def build_bento(item: dict[str, Any], evaluation: dict[str, Any], pins: list[str]) -> str:
    import bentoml

    # BentoML imports the service module to build it, and Python keeps modules: without this, every
    # bento after the first of a run would be built from the first one's build.json (model, name, faults).
    for name in SERVING_FILES:
        sys.modules.pop(Path(name).stem, None)
    with tempfile.TemporaryDirectory(prefix="rolloutlab-build-") as context:
        for name in SERVING_FILES:
            shutil.copy(HERE / name, context)
        build_info = {
            "name": item["name"],
            "version": item["version"],
            "service": item["service"],
            "model_tag": item["model_tag"],
            "n_features": training.N_FEATURES,
            "faults": item["faults"],
            "serving": item["serving"],
            "description": item["description"],
            "evaluation": evaluation,
            "manifest": item["manifest"],
        }
        Path(context, "build.json").write_text(json.dumps(build_info, indent=1), encoding="utf-8")
        faults = sorted(k for k in item["faults"] if k != "seed")
        bento = bentoml.bentos.build(
            "service:DigitsClassifier",
            version=item["version"],
            build_ctx=context,
            include=[*SERVING_FILES, "build.json"],
            labels={
                "model_version": item["name"],
                "rolloutlab-version": item["name"],
                "content-hash": item["digest"],
                "faults": ",".join(faults) or "none",
                "accuracy": f"{evaluation['accuracy']:.4f}",
            },
            python={"packages": pins, "lock_packages": False},
        )
    return str(bento.tag)


def discard(tags: list[str]) -> None:
    """Remove the old bento/model of a replaced version (asked for explicitly with --replace)."""
    import bentoml

    for tag in tags:
        for store in (bentoml.bentos, bentoml.models):
            try:
                store.delete(tag)
                print(f"discarded {tag}", flush=True)
            except bentoml.exceptions.NotFound:
                pass


def build_item(item: dict[str, Any], pins: list[str]) -> None:
    started = time.monotonic()
    corrupt = item["faults"].get("corrupt_labels", {}).get("fraction", 0.0)
    try:
        model = training.train(item["recipe"], corrupt_fraction=corrupt, seed=item["faults"].get("seed", 0))
    except training.RecipeError as exc:
        problem = {"version": item["name"], "field": exc.field, "message": str(exc)}
        print(ERROR_MARK + json.dumps(problem), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    evaluation = training.evaluate(model)
    print(f"{item['name']}: trained {item['recipe']['algorithm']} in {time.monotonic() - started:.1f}s, "
          f"held-out accuracy {evaluation['accuracy']:.4f}, F1 {evaluation['f1_macro']:.4f}", flush=True)
    discard(item.get("discard", []))
    save_model(item, model, evaluation)
    tag = build_bento(item, evaluation, pins)
    print(f"{item['name']}: built {tag}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, help="JSON list of versions to build (written by rolloutlab.zoo)")
    parser.add_argument("--holdout", type=Path, help="also write the held-out rows here (JSON)")
    args = parser.parse_args()
    plan = json.loads(args.plan.read_text(encoding="utf-8")) if args.plan else []
    pins = pinned_requirements() if plan else []
    for item in plan:
        build_item(item, pins)
    if args.holdout:
        tmp = args.holdout.with_suffix(".tmp")
        tmp.write_text(json.dumps(training.holdout_rows()), encoding="utf-8")
        tmp.replace(args.holdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
