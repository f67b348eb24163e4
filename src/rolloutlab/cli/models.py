"""`rolloutlab models`: the version catalogue and the lab's BentoML store."""

from __future__ import annotations

import click

from rolloutlab.cli.common import say


@click.group()
def models() -> None:
    """Model versions from models/versions.yaml."""


@models.command("build")
@click.argument("versions", nargs=-1)
def models_build(versions: tuple[str, ...]) -> None:
    """Build VERSIONS (default: all) into the lab's BentoML store; built versions are left as they are."""
    from rolloutlab import zoo

    catalogue = zoo.load_catalogue()
    names = list(versions) or list(catalogue.versions)
    built = zoo.ensure_built(names, catalogue)
    for name in names:
        say(f"{catalogue.bento_tag(name)}: {'built' if name in built else 'already built'}")


@models.command("list")
def models_list() -> None:
    """List the catalogue's versions and whether each is built."""
    from rolloutlab import zoo

    catalogue = zoo.load_catalogue()
    for name, entry in catalogue.versions.items():
        state = "built" if zoo.is_built(catalogue, name) else "not built"
        say(f"{name:<8} {state:<10} {entry.get('description', '')}")
