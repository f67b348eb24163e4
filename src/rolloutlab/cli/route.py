"""`rolloutlab route`: inspect and change the routing state of the running local lab by hand."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from rolloutlab.cli.common import say
from rolloutlab.errors import RoutingError
from rolloutlab.routing import FORCE_HEADER, USER_COOKIE, USER_HEADER, HeaderRule, Mirror, RoutingState, preview_rule

if TYPE_CHECKING:
    from rolloutlab.targets.local import LocalTarget


@click.group()
def route() -> None:
    """Inspect and change the routing state of the running lab.

    \b
    Examples:
      rolloutlab route show
      rolloutlab route set v1=90 v2=10                      # a 10 % canary
      rolloutlab route set v1=0 v2=100 --reason "switch"    # blue-green switch
      rolloutlab route set v1=100 v2=0 --preview v2         # v2 only for `x-rolloutlab-preview: 1`
      rolloutlab route set v1=50 v2=50 --sticky             # A/B: a user (x-user-id) keeps their version
      rolloutlab route set v1=100 --mirror v2=20            # shadow: 20 % copied to v2, answers dropped

    Any request can pick a version of the state with the header `x-model-version: <version>`.
    Changes go through the same checks as the engine's (nginx -t, graceful reload, verified live)
    and are journalled in <lab>/routing-journal.jsonl. Only this machine can change routing.
    """


def _lab() -> LocalTarget:
    from rolloutlab.paths import lab_home
    from rolloutlab.targets.local import LocalTarget

    return LocalTarget(lab_home())


def _last_record(generation: int) -> dict | None:
    from rolloutlab.journal import read_journal
    from rolloutlab.paths import lab_home
    from rolloutlab.routers.journaled import JOURNAL_NAME

    path = lab_home() / "lab" / JOURNAL_NAME
    if not path.is_file():
        return None
    records = [r for r in read_journal(path) if r.get("event") == "routing_applied" and r.get("generation") == generation]
    return records[-1] if records else None


def _show(state: RoutingState) -> None:
    say(f"routing generation {state.generation}")
    width = max(len(v) for v in state.weights)
    for version, weight in sorted(state.weights.items()):
        say(f"  {version:<{width}}  weight {weight:<5} {100 * state.share(version):6.2f}%")
    say(f"  {FORCE_HEADER}: <version> picks any of {', '.join(sorted(state.weights))}")
    for rule in state.rules:
        say(f"  rule: {rule.header}: {rule.value} → {rule.version}")
    say(f"  sticky: {'on, by ' + USER_HEADER + ' header or ' + USER_COOKIE + ' cookie' if state.sticky else 'off'}")
    mirror = state.mirror
    say(f"  mirror: {f'{mirror.percent}% of weighted requests copied to {mirror.version}' if mirror else 'off'}")


@route.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def route_show(as_json: bool) -> None:
    """Show the routing state NGINX serves now, and when and why it was applied."""
    from rolloutlab.routers.nginx import served_state

    lab = _lab()
    state = lab.router(by="route show").current()
    running = lab.running_state()
    served = served_state(running.router_port) if running else None
    record = _last_record(state.generation)
    if as_json:
        say(json.dumps({"state": state.to_dict(), "served": served, "applied": record}, indent=2))
        return
    _show(state)
    if record:
        say(f"  applied by {record.get('by')}: {record.get('reason') or '(no reason given)'}")
    if served is None:
        say("warning: NGINX does not answer; is the lab's router running? (`rolloutlab status`)")
    elif served.get("generation") != state.generation:
        say(f"warning: NGINX serves generation {served.get('generation')}, not {state.generation}")


def _weights(pairs: tuple[str, ...]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        if not sep or not version:
            raise RoutingError(f"argument {pair!r}: expected VERSION=WEIGHT, e.g. v1=90")
        if not weight.isdigit():
            raise RoutingError(f"argument {pair!r}: weight must be a non-negative integer, got {weight!r}")
        if version in weights:
            raise RoutingError(f"argument {pair!r}: version {version} is given twice")
        weights[version] = int(weight)
    return weights


def _rule(text: str) -> HeaderRule:
    header, sep, rest = text.partition("=")
    value, sep2, version = rest.rpartition(":")
    if not (sep and sep2 and header and value and version):
        raise RoutingError(f"--rule {text!r}: expected HEADER=VALUE:VERSION, e.g. x-beta=yes:v2")
    return HeaderRule(header.lower(), value, version)


def _mirror(text: str) -> Mirror:
    version, sep, percent = text.partition("=")
    if not sep or not version or not percent.isdigit():
        raise RoutingError(f"--mirror {text!r}: expected VERSION=PERCENT, e.g. v2=20")
    return Mirror(version, int(percent))


@route.command("set")
@click.argument("weights", nargs=-1, required=True, metavar="VERSION=WEIGHT...")
@click.option("--rule", "rules", multiple=True, metavar="HEADER=VALUE:VERSION",
              help="Send requests with this header value to VERSION (repeatable; first match wins).")
@click.option("--preview", metavar="VERSION", help="Shorthand for --rule x-rolloutlab-preview=1:VERSION.")
@click.option("--sticky/--no-sticky", default=False, show_default=True,
              help=f"Keep each user ({USER_HEADER} header, else {USER_COOKIE} cookie) on one version.")
@click.option("--mirror", metavar="VERSION=PERCENT", help="Copy PERCENT % of weighted requests to VERSION (a shadow).")
@click.option("--reason", default="set by hand", show_default=True, help="Why; kept in the routing journal.")
def route_set(weights: tuple[str, ...], rules: tuple[str, ...], preview: str | None, sticky: bool,
              mirror: str | None, reason: str) -> None:
    """Replace the routing state with VERSION=WEIGHT... (relative integer weights) and the options given.

    The new state is checked (running versions, weights, nginx -t), applied with a graceful reload
    and verified live; if anything fails, the previous state stays in force and nothing changes.
    """
    parsed = [_rule(text) for text in rules] + ([preview_rule(preview)] if preview else [])
    state = RoutingState(_weights(weights), reason=reason, rules=tuple(parsed), sticky=sticky,
                         mirror=_mirror(mirror) if mirror else None)
    applied = _lab().router(by="route set").apply(state)
    say(f"applied routing generation {applied.generation}: {applied.describe()}")
