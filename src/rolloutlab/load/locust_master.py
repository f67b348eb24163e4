"""LocustMaster: a Locust master's web API (/swarm, /stop, /stats/requests, /rolloutlab/heartbeat) as calls.

The one client of a master serving its web UI, used for the in-cluster load generator (through its
port-forward) and by the tests against a real master on 127.0.0.1; requests' errors become LoadError.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from rolloutlab.errors import LoadError


class LocustMaster:
    """The web API of the Locust master at url, which expects `workers` workers before a test starts."""

    def __init__(self, url: str, workers: int = 1) -> None:
        self.url = url.rstrip("/")
        self.workers = workers

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0,
                   fields: Mapping[str, str] | None = None) -> None:
        """POST /swarm once the workers have connected; fields are the test's options (loadgen/settings)."""
        expected = self.workers if workers is None else workers
        deadline = time.monotonic() + timeout
        while (connected := len(self.load_stats().get("workers", []))) < expected:
            if time.monotonic() > deadline:
                raise LoadError(f"only {connected} of {expected} Locust workers connected to the master at "
                                f"{self.url} after {timeout:.0f}s")
            time.sleep(1)
        form = {**(fields or {}), "user_count": str(users), "spawn_rate": repr(float(spawn_rate))}
        response = self._call("post", "/swarm", data=form, asked="start")
        try:
            accepted = bool(response.json().get("success", False))
        except ValueError:
            accepted = False
        if response.status_code != 200 or not accepted:
            raise LoadError(f"the Locust master at {self.url} refused to start: HTTP {response.status_code} "
                            f"{response.text[:200]}")

    def stop_load(self) -> None:
        self._call("post", "/stop", asked="stop").raise_for_status()

    def heartbeat_load(self) -> dict[str, Any]:
        """Tell the master its caller still watches the test; returns the master's guard state."""
        response = self._call("post", "/rolloutlab/heartbeat")
        if response.status_code == 404:
            raise LoadError(f"the Locust master at {self.url} has no /rolloutlab/heartbeat: it runs another "
                            "locustfile than loadtests/locustfile.py (redeploy with `pulumi up`)")
        return self._json(response)

    def load_stats(self) -> dict[str, Any]:
        """The master's aggregated statistics (Locust's /stats/requests JSON)."""
        return self._json(self._call("get", "/stats/requests"))

    def _call(self, method: str, path: str, asked: str | None = None, **kwargs: Any) -> requests.Response:
        try:
            return requests.request(method, f"{self.url}{path}", timeout=10, **kwargs)
        except requests.RequestException as exc:
            what = f"could not be asked to {asked}" if asked else f"did not answer {method.upper()} {path}"
            raise LoadError(f"the Locust master at {self.url} {what}: {exc}") from None

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise LoadError(f"the Locust master at {self.url} answered {response.request.path_url} "
                            f"with {exc}") from None
