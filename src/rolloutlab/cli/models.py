"""`rolloutlab models`: the version catalogue, content-tagged builds, offline evaluation, container images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rolloutlab.cli.common import say


def _catalogue(path: Path | None) -> Any:
    from rolloutlab import zoo

    return zoo.load_catalogue(path)


catalogue_option = click.option(
    "--catalogue", "catalogue_path", type=click.Path(dir_okay=False, path_type=Path), envvar="ROLLOUTLAB_CATALOGUE",
    help="Catalogue file (default: $ROLLOUTLAB_CATALOGUE, else <project>/models/versions.yaml).",
)


@click.group()
def models() -> None:
    """Model versions from models/versions.yaml: build, inspect, evaluate, containerize.

    \b
    A version's tag is derived from its content (recipe, faults, data, code, libraries): building the
    same entry twice does nothing, and a changed entry under a built name is refused.
    \b
    Examples:
      rolloutlab models list                      every version, built or not, with its faults
      rolloutlab models build v1 v2 slow          train and pack them into the lab's BentoML store
      rolloutlab models show slow                 tag, recipe, faults, evaluation of one version
      rolloutlab models eval                      held-out accuracy/F1 and model latency of all versions
      rolloutlab models containerize v2           an OCI image digits-classifier:v2-<hash> (needs Docker)
    """


@models.command("build")
@click.argument("versions", nargs=-1)
@click.option("--replace", is_flag=True,
              help="Discard an earlier build of a name whose entry changed, instead of refusing.")
@catalogue_option
def models_build(versions: tuple[str, ...], replace: bool, catalogue_path: Path | None) -> None:
    """Build VERSIONS (default: all) into the lab's BentoML store; unchanged built versions are left as they are.

    \b
    Examples:
      rolloutlab models build                     all versions in the catalogue
      rolloutlab models build degraded            one version
      rolloutlab models build --replace v2        v2's entry changed on purpose: drop the old build
    """
    from rolloutlab import zoo

    catalogue = _catalogue(catalogue_path)
    names = list(versions) or list(catalogue.versions)
    catalogue.require(names)
    built = zoo.ensure_built(names, catalogue, replace=replace, progress=say)
    for name in names:
        say(f"{catalogue.bento_tag(name)}: {'built' if name in built else 'already built'}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@catalogue_option
def models_list(as_json: bool, catalogue_path: Path | None) -> None:
    """List the catalogue's versions: tag, whether built, faults, held-out accuracy, description."""
    from rolloutlab import zoo

    catalogue = _catalogue(catalogue_path)
    rows = []
    for name, spec in catalogue.versions.items():
        evaluation = zoo.evaluation(catalogue, name)
        stale = zoo.stale_builds(catalogue, name) if evaluation is None else []
        state = "built" if evaluation else ("CHANGED" if stale else "not built")
        rows.append({"name": name, "tag": catalogue.bento_tag(name), "state": state,
                     "faults": spec.faults.kinds(), "accuracy": (evaluation or {}).get("accuracy"),
                     "description": spec.description})
    if as_json:
        say(json.dumps(rows, indent=2))
        return
    say(f"{'NAME':<10} {'STATE':<10} {'ACCURACY':<9} {'FAULTS':<15} DESCRIPTION")
    for row in rows:
        accuracy = f"{row['accuracy']:.4f}" if row["accuracy"] is not None else "-"
        say(f"{row['name']:<10} {row['state']:<10} {accuracy:<9} {','.join(row['faults']) or '-':<15} "
            f"{row['description']}")
    if any(row["state"] == "CHANGED" for row in rows):
        say("CHANGED: built earlier from other content; `rolloutlab models show NAME` says what changed")


@models.command("show")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@catalogue_option
def models_show(version: str, as_json: bool, catalogue_path: Path | None) -> None:
    """Show one VERSION: content tag, recipe, faults, build state, evaluation, and what changed if stale.

    \b
    Example:
      rolloutlab models show tail-slow --json
    """
    from rolloutlab import zoo
    from rolloutlab.zoo.identity import describe_changes

    catalogue = _catalogue(catalogue_path)
    catalogue.require([version])
    spec = catalogue.versions[version]
    identity = catalogue.identity(version)
    info: dict[str, Any] = {**spec.to_dict(), "tag": catalogue.bento_tag(version),
                            "model_tag": catalogue.model_tag(version), "content_hash": identity.digest,
                            "built": zoo.is_built(catalogue, version),
                            "evaluation": zoo.evaluation(catalogue, version)}
    stale = zoo.stale_builds(catalogue, version)
    if stale:
        info["stale_builds"] = [{"tag": b.tag, "changes": describe_changes(b.manifest, identity.manifest)}
                                for b in stale]
    if as_json:
        say(json.dumps(info, indent=2))
        return
    say(f"{version}: {spec.description}")
    say(f"  tag        {info['tag']}  ({'built' if info['built'] else 'not built'})")
    say(f"  recipe     {json.dumps(info['recipe'])}" + (f"  (from {spec.recipe_from})" if spec.base else ""))
    say(f"  faults     {json.dumps(info['faults'])}")
    evaluation = info["evaluation"]
    if evaluation:
        latency = evaluation["latency_ms"]
        say(f"  held-out   accuracy {evaluation['accuracy']:.4f}, F1 {evaluation['f1_macro']:.4f} "
            f"({evaluation['holdout_rows']} rows)")
        say(f"  model      {latency['single_p50']:.3f} ms p50 / {latency['single_p99']:.3f} ms p99 per call, "
            f"{latency['batch64_per_row']:.4f} ms per row in batches of 64")
        say(f"  expected   {json.dumps(evaluation['expected'])}")
    for build in info.get("stale_builds", []):
        say(f"  stale      {build['tag']}: {'; '.join(build['changes'])}")


@models.command("eval")
@click.argument("versions", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@catalogue_option
def models_eval(versions: tuple[str, ...], as_json: bool, catalogue_path: Path | None) -> None:
    """Offline evaluation of VERSIONS (default: all): held-out accuracy/F1, model latency, expected fault effects.

    Measured when a version is built and stored in its bento (build.json) and model metadata, so
    scenarios can use it as the oracle for regret and as a pre-deploy gate; builds what is missing.

    \b
    Example:
      rolloutlab models eval v1 v2 degraded
    """
    from rolloutlab import zoo

    catalogue = _catalogue(catalogue_path)
    names = list(versions) or list(catalogue.versions)
    catalogue.require(names)
    zoo.ensure_built(names, catalogue, progress=say)
    results = [zoo.evaluation(catalogue, name) for name in names]
    if as_json:
        say(json.dumps(results, indent=2))
        return
    say(f"{'NAME':<10} {'ACCURACY':>8} {'F1':>7} {'P50 MS':>7} {'P99 MS':>7} {'ROW MS':>7}  EXPECTED FAULT EFFECTS")
    for result in results:
        assert result is not None
        latency = result["latency_ms"]
        effects = {k: v for k, v in result["expected"].items() if v}
        say(f"{result['name']:<10} {result['accuracy']:>8.4f} {result['f1_macro']:>7.4f} "
            f"{latency['single_p50']:>7.3f} {latency['single_p99']:>7.3f} {latency['batch64_per_row']:>7.4f}  "
            f"{json.dumps(effects) if effects else '-'}")


@models.command("containerize")
@click.argument("version")
@click.option("--base-image", envvar="ROLLOUTLAB_BASE_IMAGE", metavar="IMAGE",
              help="Base image with Python 3.11 + venv (default: $ROLLOUTLAB_BASE_IMAGE, else the local "
                   "rolloutlab-base:bookworm-py311, built with debootstrap when missing).")
@catalogue_option
def models_containerize(version: str, base_image: str | None, catalogue_path: Path | None) -> None:
    """Build an OCI image of VERSION with Docker and print its reference.

    The image runs `bentoml serve` on port 3000 with probes /livez and /readyz, as the non-root
    user 1034, and needs no network at start (the model is inside). It is tagged with the content
    tag (digits-classifier:v2-<hash>) and the catalogue name (digits-classifier:v2).

    \b
    Examples:
      rolloutlab models containerize v2
      rolloutlab models containerize slow --base-image python:3.11-slim     (where a registry is reachable)
      docker run --rm -p 127.0.0.1:3000:3000 digits-classifier:v2
    """
    from rolloutlab.zoo.container import containerize

    catalogue = _catalogue(catalogue_path)
    catalogue.require([version])
    image = containerize(catalogue, version, base_image, progress=say)
    say(f"built image in {image.seconds:.0f}s on {image.base_image}; also tagged {image.alias}")
    say(image.reference)
