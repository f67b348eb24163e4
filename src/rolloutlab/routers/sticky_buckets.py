"""Sticky assignment on Gateway API core: the user's bucket, sent as a header, matched Exact per arm.

HTTPRoute v1 has no hash-by-key split (`sessionPersistence` is experimental and cookie/header based,
not a proportional split), and RegularExpression header matches are implementation-specific. What
every conformant implementation must support is an Exact header match. So the client derives a
stable bucket 00..99 from the user id (loadtests/loadgen/traffic.py `bucket_of`, sent as
`x-rolloutlab-bucket`), and the route gives each arm the buckets of its share: same user, same
bucket, same arm while the weights stay the same — as NGINX's split_clients on the user key does
locally. Buckets go to versions in name order as contiguous ranges, so when a later version's
weight grows, users only move towards it (NGINX's split has the same property).
"""

from __future__ import annotations

from rolloutlab.errors import RoutingError

BUCKET_HEADER = "x-rolloutlab-bucket"
BUCKETS = 100  # a 1 % resolution: what 128 Exact matches per HTTPRoute leave room for


def bucket_value(bucket: int) -> str:
    """The header value of a bucket: two digits, as the load generator sends it."""
    return f"{bucket:02d}"


def bucket_ranges(weights: dict[str, int]) -> dict[str, range]:
    """Each version's buckets, in proportion to its weight (largest remainder), versions in name order.

    Versions with weight 0 get none; the counts add up to BUCKETS exactly.
    """
    active = {v: w for v, w in sorted(weights.items()) if w > 0}
    total = sum(active.values())
    if total <= 0:
        raise RoutingError("a sticky split needs at least one version with a positive weight")
    exact = {v: BUCKETS * w / total for v, w in active.items()}
    counts = {v: int(share) for v, share in exact.items()}
    by_remainder = sorted(active, key=lambda v: (-(exact[v] - counts[v]), v))
    for version in by_remainder[: BUCKETS - sum(counts.values())]:
        counts[version] += 1
    ranges, start = {}, 0
    for version in active:
        ranges[version] = range(start, start + counts[version])
        start += counts[version]
    return {v: r for v, r in ranges.items() if len(r)}
