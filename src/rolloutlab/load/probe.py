"""Check, before any load starts, that the target answers a real prediction (fail fast, never zeros)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from rolloutlab.errors import LoadError


def probe_target(host: str, holdout: Path, force_version: str | None = None, timeout: float = 10.0) -> str:
    """POST one held-out row to host/predict; returns the version that answered, else raises LoadError."""
    try:
        rows = json.loads(holdout.read_text(encoding="utf-8"))
        features = rows[0]["features"]
    except (OSError, ValueError, LookupError, TypeError) as exc:
        raise LoadError(f"cannot read a held-out row from {holdout}: {exc}") from None
    headers = {"content-type": "application/json", "x-user-id": "probe"}
    if force_version:
        headers["x-model-version"] = force_version
    request = urllib.request.Request(f"{host.rstrip('/')}/predict", data=json.dumps({"instances": [features]}).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()[:200]
        raise LoadError(f"the target {host} answered HTTP {exc.code} to POST /predict ({detail or exc.reason}); "
                        "is every model server of the lab up? (`rolloutlab status`)") from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LoadError(f"nothing answers at {host} ({reason}); is the lab up? (`rolloutlab status`, "
                        "`rolloutlab up`)") from None
    try:
        version = json.loads(body)["version"]
    except (ValueError, LookupError, TypeError):
        raise LoadError(f"the target {host} answered POST /predict without a model version: {body[:200]!r}") from None
    return str(version)
