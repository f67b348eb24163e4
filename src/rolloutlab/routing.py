"""RoutingState: which version gets which share of traffic. Every strategy is a sequence of these.

A state is carried out the same way by every data plane (NGINX locally, Gateway API on Kubernetes).
A request is routed by the first of these that applies:

1. header `x-model-version: <version>` names a version of the state → that version (the load
   generator sends its feedback this way, so it reaches the server that answered);
2. a header rule (`rules`, e.g. the blue-green preview route) → its version;
3. `sticky` and the request carries a user key (header `x-user-id`, else cookie `rolloutlab_user`)
   → the version the key hashes to, in proportion to the weights (same key, same version while
   the weights stay the same); on Gateway API by the key's bucket, which the client sends as
   `x-rolloutlab-bucket` (routers/sticky_buckets.py: core HTTPRoute has Exact header matches only);
4. otherwise → the weights.

`mirror` copies a share of the requests of 3 and 4 to a shadow version whose responses are dropped.
No request is ever routed to a version outside the state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rolloutlab.errors import RoutingError

FORCE_HEADER = "x-model-version"
USER_HEADER = "x-user-id"
USER_COOKIE = "rolloutlab_user"
PREVIEW_HEADER = "x-rolloutlab-preview"
PREVIEW_VALUE = "1"

# Names and values end up in NGINX config and Kubernetes manifests: a closed alphabet keeps them inert there.
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HEADER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
HEADER_VALUE = re.compile(r"^[A-Za-z0-9_.:/+=@-][A-Za-z0-9_.:/+=@~-]{0,127}$")
_RESERVED_HEADERS = {FORCE_HEADER, USER_HEADER, "host", "cookie", "content-length", "content-type", "connection"}


@dataclass(frozen=True)
class HeaderRule:
    """Requests whose header `header` equals `value` go to `version`, whatever the weights say."""

    header: str
    value: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"header": self.header, "value": self.value, "version": self.version}


@dataclass(frozen=True)
class Mirror:
    """A copy of `percent` % of the weighted requests goes to the shadow `version`; its responses are dropped."""

    version: str
    percent: int

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "percent": self.percent}


def preview_rule(version: str) -> HeaderRule:
    """The blue-green preview route: `x-rolloutlab-preview: 1` reaches `version` before it takes traffic."""
    return HeaderRule(PREVIEW_HEADER, PREVIEW_VALUE, version)


@dataclass(frozen=True)
class RoutingState:
    """Integer weights per version (relative shares) plus header rules, stickiness and mirroring.

    generation counts applied states; reason says why this state was asked for (kept in the journal).
    """

    weights: dict[str, int]
    generation: int = 0
    reason: str = field(default="", compare=False)
    rules: tuple[HeaderRule, ...] = ()
    sticky: bool = False
    mirror: Mirror | None = None

    def validate(self, running: set[str] | frozenset[str]) -> None:
        """Raise RoutingError naming the first thing wrong; the state is then never applied."""
        if not self.weights:
            raise RoutingError("routing state has no versions")
        for version, weight in self.weights.items():
            _check_version(version, running, "weights")
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise RoutingError(f"weights.{version}: weight must be a non-negative integer, got {weight!r}")
        if self.total <= 0:
            raise RoutingError("routing weights sum to 0: at least one version must receive traffic")
        seen: set[tuple[str, str]] = set()
        for index, rule in enumerate(self.rules):
            where = f"rules[{index}]"
            if not HEADER_NAME.match(rule.header):
                raise RoutingError(f"{where}.header: {rule.header!r} is not a lower-case header name (a-z, 0-9, -)")
            if rule.header in _RESERVED_HEADERS:
                raise RoutingError(f"{where}.header: {rule.header!r} is reserved by the router")
            if not HEADER_VALUE.match(rule.value):
                raise RoutingError(
                    f"{where}.value: {rule.value!r} must be 1-128 characters of A-Z a-z 0-9 _ . : / + = @ ~ - "
                    "(not starting with ~)"
                )
            if rule.version not in self.weights:
                raise RoutingError(
                    f"{where}.version: {rule.version!r} is not in the state's weights ({', '.join(sorted(self.weights))}); "
                    "give it weight 0 to make it reachable by header only"
                )
            if (rule.header, rule.value) in seen:
                raise RoutingError(f"{where}: a rule for {rule.header}: {rule.value} comes earlier already")
            seen.add((rule.header, rule.value))
        if not isinstance(self.sticky, bool):
            raise RoutingError(f"sticky must be true or false, got {self.sticky!r}")
        if self.mirror is not None:
            _check_version(self.mirror.version, running, "mirror.version")
            percent = self.mirror.percent
            if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
                raise RoutingError(f"mirror.percent must be an integer from 1 to 100, got {percent!r}")
            if self.weights.get(self.mirror.version, 0) > 0:
                raise RoutingError(
                    f"mirror.version: {self.mirror.version!r} also takes {100 * self.share(self.mirror.version):.0f}% "
                    "of live traffic; a shadow must take none (give it weight 0)"
                )

    @property
    def total(self) -> int:
        return sum(self.weights.values())

    @property
    def versions(self) -> frozenset[str]:
        """Every version the state may send a request to (weighted, header-only or shadow)."""
        return frozenset(self.weights) | ({self.mirror.version} if self.mirror else set())

    def share(self, version: str) -> float:
        """Fraction of the weighted traffic routed to version."""
        return self.weights.get(version, 0) / self.total if self.total else 0.0

    def active(self) -> dict[str, int]:
        """Versions with a positive weight, in a stable order."""
        return {v: w for v, w in sorted(self.weights.items()) if w > 0}

    def with_generation(self, generation: int) -> RoutingState:
        return replace(self, generation=generation)

    def describe(self) -> str:
        text = ", ".join(f"{v} {100 * self.share(v):.0f}%" for v in sorted(self.weights))
        extras = [f"{r.header}: {r.value} → {r.version}" for r in self.rules]
        if self.sticky:
            extras.append(f"sticky by {USER_HEADER}")
        if self.mirror:
            extras.append(f"mirror {self.mirror.percent}% → {self.mirror.version}")
        return text + "".join(f"; {e}" for e in extras)

    def to_dict(self) -> dict[str, object]:
        return {
            "generation": self.generation,
            "weights": dict(sorted(self.weights.items())),
            "rules": [r.to_dict() for r in self.rules],
            "sticky": self.sticky,
            "mirror": self.mirror.to_dict() if self.mirror else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "routing state") -> RoutingState:
        """Parse what to_dict wrote (or a hand-written state); RoutingError names the field that is wrong."""
        if not isinstance(data, Mapping):
            raise RoutingError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = set(data) - {"generation", "weights", "rules", "sticky", "mirror", "reason"}
        if unknown:
            raise RoutingError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        weights = data.get("weights")
        if not isinstance(weights, Mapping):
            raise RoutingError(f"{where}: weights must be a mapping of version to integer weight")
        rules = data.get("rules") or []
        if not isinstance(rules, list):
            raise RoutingError(f"{where}: rules must be a list")
        parsed_rules = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, Mapping) or set(rule) != {"header", "value", "version"}:
                raise RoutingError(f"{where}: rules[{index}] must have exactly header, value and version")
            parsed_rules.append(HeaderRule(str(rule["header"]).lower(), str(rule["value"]), str(rule["version"])))
        mirror = data.get("mirror")
        if mirror is not None and (not isinstance(mirror, Mapping) or set(mirror) != {"version", "percent"}):
            raise RoutingError(f"{where}: mirror must have exactly version and percent")
        generation = data.get("generation", 0)
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise RoutingError(f"{where}: generation must be a non-negative integer, got {generation!r}")
        return cls(
            weights={str(v): w for v, w in weights.items()},
            generation=generation,
            reason=str(data.get("reason", "")),
            rules=tuple(parsed_rules),
            sticky=data.get("sticky", False),
            mirror=Mirror(str(mirror["version"]), mirror["percent"]) if mirror else None,
        )


def _check_version(version: str, running: set[str] | frozenset[str], where: str) -> None:
    if not isinstance(version, str) or not VERSION_NAME.match(version):
        raise RoutingError(f"{where}: {version!r} is not a version name (letters, digits, _ . -)")
    if version not in running:
        raise RoutingError(
            f"{where}: routing state names version {version!r}, which is not running "
            f"(running: {', '.join(sorted(running))})"
        )


def split(baseline: str, candidate: str, candidate_percent: int) -> dict[str, int]:
    """Weights that send candidate_percent of traffic to the candidate and the rest to the baseline."""
    return {baseline: 100 - candidate_percent, candidate: candidate_percent}
