"""Build a load section from a scenario's `load:` plus command-line options, validated like the scenario."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from rolloutlab.errors import ScenarioError
from rolloutlab.scenario.load import LoadBase, clean_location, validate_load
from rolloutlab.yamlfile import dotted


def build_load(base: LoadBase | None, options: dict[str, Any], overrides: list[str]) -> LoadBase:
    """base (a scenario's load, or defaults) with options (None: unset) and KEY=VALUE overrides applied.

    Switching to another shape keeps only the fields all shapes share: the old shape's parameters
    would be unknown to the new one.
    """
    data: dict[str, Any] = base.model_dump(exclude_unset=True) if base is not None else {}
    new_shape = options.get("shape")
    if new_shape and base is not None and new_shape != base.shape_name:
        data = {k: v for k, v in data.items() if k in LoadBase.model_fields}
    for key, value in options.items():
        if value is not None:
            data[key] = value
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip().removeprefix("load.")
        if not sep or not key or "." in key:
            raise ScenarioError(f"--set {override!r}: expected FIELD=VALUE, e.g. --set ramp_time=30s")
        data[key] = yaml.safe_load(raw)
    try:
        return validate_load(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc, message = clean_location(("load", *error["loc"]), error["type"], {"load": data})
            if error["type"] == "extra_forbidden":
                message = f"not a field of shape {data.get('shape', 'steady')}"
            problems.append(f"  {dotted(loc)}: {message or error['msg'].removeprefix('Value error, ')}")
        raise ScenarioError("invalid load options:\n" + "\n".join(problems)) from None
