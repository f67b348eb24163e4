"""Shared pieces of the command line: output, and turning RolloutLabError into one clear line."""

from __future__ import annotations

import sys

import click

from rolloutlab.errors import RolloutLabError

EXIT_ROLLED_BACK = 3
EXIT_GATE_FAILED = 3  # a pre-deploy gate failed: like a rollback, the candidate never got traffic
EXIT_INTERRUPTED = 130
EXIT_ROLLBACK_FAILED = 4  # even the abort could not put traffic back: act now, the lab is not where it should be


def say(message: str) -> None:
    click.echo(message, err=False)


def fail(exc: RolloutLabError) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(1)


class Group(click.Group):
    """Turn every RolloutLabError into one clear line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RolloutLabError as exc:
            fail(exc)
