"""Real requests through the testbed's gateway: who answered (the `x-model-version` header) and what failed."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

PAYLOAD = {"instances": [[float(i % 16) for i in range(64)]]}


@dataclass
class Tally:
    versions: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    request_ids: dict[str, str] = field(default_factory=dict)  # request id -> version that answered

    @property
    def total(self) -> int:
        return sum(self.versions.values())


def predict(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """(version, request id) of one answered /predict; raises on anything but a 200."""
    answer = client.post(f"{url}/predict", json=PAYLOAD, headers=headers or {}, timeout=10)
    answer.raise_for_status()
    return answer.headers["x-model-version"], answer.headers["x-request-id"]


def send(url: str, count: int, headers: dict[str, str] | None = None, concurrency: int = 4) -> Tally:
    """`count` requests, `concurrency` at a time; every non-200 or transport error is a failure."""
    tally = Tally()
    with httpx.Client() as client:
        def one(_: int) -> None:
            try:
                version, request_id = predict(client, url, headers)
            except (httpx.HTTPError, KeyError) as exc:
                tally.failures.append(repr(exc))
                return
            tally.versions[version] += 1
            tally.request_ids[request_id] = version

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(count)))
    return tally
