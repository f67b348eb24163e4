"""Immutable versions at preview: refuse a changed image under a version name the stack already deployed.

A version name stands for one artifact. If the image a version would now get (another registry, a
rebuilt tag) differs from the image the stack last deployed under that name, Kubernetes would roll
the version's pods over in place — the version would silently stop being the one measured before.
The program reads what it deployed last from its own stack outputs (`images`, exported by
stacks/__main__.py) through a StackReference to itself, which Pulumi resolves during `preview` too,
and every component waits on the check: a refusal stops `preview` and `up` before any resource is
registered, with one message naming each version and both images.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

IMAGES_OUTPUT = "images"  # the stack output {version: image} the check compares with


def changed_images(previous: Mapping[str, str] | None, images: Mapping[str, str]) -> list[str]:
    """One line per version whose image differs from the one last deployed under its name."""
    return [
        f"version {version} is deployed with image {previous[version]} and would now get {image}"
        for version, image in sorted(images.items())
        if previous and previous.get(version) not in (None, image)
    ]


def refusal(changes: list[str]) -> str:
    """The message a refused preview/up shows: what changed, and the two ways forward."""
    return (
        "refusing to change the image of a deployed model version (a version is immutable): "
        + "; ".join(changes)
        + ". Give the new image a new version name (add it to rolloutlab:versions beside the old one and move "
        "traffic to it), or restore the previous registry/image; to reuse a name, remove that version from "
        "rolloutlab:versions and `pulumi up` first."
    )


def image_guard(images: Mapping[str, str]) -> pulumi.Output[list[pulumi.Resource]]:
    """A `depends_on` for every component: resolves once `images` agree with what this stack deployed last.

    On a mismatch it raises pulumi.RunError (a clean error, no traceback) before anything is registered.
    """
    stack = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    deployed = pulumi.StackReference("deployed-images", stack_name=stack)

    def check(previous: object) -> list[pulumi.Resource]:
        changes = changed_images(previous if isinstance(previous, Mapping) else None, images)
        if changes:
            raise pulumi.RunError(refusal(changes))
        return [deployed]

    return deployed.get_output(IMAGES_OUTPUT).apply(check)
