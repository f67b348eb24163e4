"""PromQL templates, kept as data apart from the code that runs them.

Placeholders ($-style, since PromQL is full of braces): $version (the `version` target label the lab's
Prometheus puts on each model server), $window (a range like 15s). The same templates serve the local
target and Kubernetes (whose Prometheus puts the same `job="model"` and `version` labels on model pods).

Two groups:
- SERIES: raw per-version numbers over a window (counts, quantiles), what every analysis measures;
- METRICS: what a check can judge, each one PromQL expression with its unit, its direction and the
  count that is its sample size (a check with too few samples is Inconclusive, never a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

_MODEL = 'job="model",version="$version"'
_PREDICT = f'{_MODEL},endpoint="/predict"'
_REQUESTS = f"sum(increase(bentoml_service_request_total{{{_PREDICT}}}[$window]))"
_ERRORS = f'sum(increase(bentoml_service_request_total{{{_PREDICT},http_response_code=~"5.."}}[$window]))'
# Feedback counted when it arrives: every label in the window belongs to a prediction made at least the
# feedback delay earlier, so the ratio judges only predictions whose labels had time to arrive.
_FEEDBACK = f"sum(increase(rolloutlab_feedback_total{{{_MODEL}}}[$window]))"
_REWARD = f"sum(increase(rolloutlab_reward_total{{{_MODEL}}}[$window]))"
_RSS_GROWTH = f"sum(delta(rolloutlab_resident_memory_bytes{{{_MODEL}}}[$window]))"


def _quantile(q: float) -> str:
    return (f"histogram_quantile({q}, sum by (le) "
            f"(rate(bentoml_service_request_duration_seconds_bucket{{{_PREDICT}}}[$window])))")


SERIES: dict[str, Template] = {
    "requests": Template(_REQUESTS),
    "errors": Template(_ERRORS),
    "p50_seconds": Template(_quantile(0.5)),
    "p95_seconds": Template(_quantile(0.95)),
    "p99_seconds": Template(_quantile(0.99)),
    "feedback": Template(_FEEDBACK),
    "reward": Template(_REWARD),
    "rss_growth_bytes": Template(_RSS_GROWTH),
}


@dataclass(frozen=True)
class MetricDef:
    """A judgeable metric: one PromQL expression, its unit, which way is better, and its sample count."""

    template: Template
    unit: str
    higher_is_better: bool
    samples: str  # the SERIES whose value is this metric's sample size: "requests" or "feedback"
    description: str


METRICS: dict[str, MetricDef] = {
    # `or vector(0)`: a version that never failed may have no 5xx series at all, and that is a rate of 0.
    "error_rate": MetricDef(Template(f"({_ERRORS} or vector(0)) / ({_REQUESTS})"), "ratio", False, "requests",
                            "share of /predict answered 5xx"),
    "p50_ms": MetricDef(Template(f"1000 * {_quantile(0.5)}"), "ms", False, "requests", "median latency"),
    "p95_ms": MetricDef(Template(f"1000 * {_quantile(0.95)}"), "ms", False, "requests", "95th percentile latency"),
    "p99_ms": MetricDef(Template(f"1000 * {_quantile(0.99)}"), "ms", False, "requests", "99th percentile latency"),
    "accuracy": MetricDef(Template(f"({_REWARD} or vector(0)) / ({_FEEDBACK})"), "ratio", True, "feedback",
                          "online accuracy (reward rate) from /feedback, over labels that arrived in the window"),
    "memory_per_request": MetricDef(Template(f"({_RSS_GROWTH}) / ({_REQUESTS})"), "bytes", False, "requests",
                                    "resident memory growth per request"),
    "rps": MetricDef(Template(f"({_REQUESTS}) / $seconds"), "req/s", True, "requests", "throughput served"),
}

# The drift monitor's series (rolloutlab/drift/monitor.py): the worst window of the analysis window, so a
# drift that came and went within it still counts. Label-free: the sample size is the requests served.
_DRIFT = 'rolloutlab_drift_statistic{{model_version="$version",detector="{detector}"}}'
_DRIFT_DEFS = (
    ("feature_drift", False, "-log10 p", "per-feature input drift (smallest BH-adjusted chi² p-value)"),
    ("prediction_drift", False, "-log10 p", "drift of the predicted-class distribution (chi² vs reference)"),
    ("attribution_ndcg", True, "ratio", "agreement of the feature-importance ranking with the reference (nDCG@10)"),
    ("estimated_accuracy", True, "ratio", "accuracy estimated without labels from calibrated confidence"),
)
for _name, _higher, _unit, _what in _DRIFT_DEFS:
    _worst = "min_over_time" if _higher else "max_over_time"
    METRICS[_name] = MetricDef(Template(f"max({_worst}({_DRIFT.format(detector=_name)}[$window]))"), _unit,
                               _higher, "requests", _what)
# The metrics only the drift monitor exports: it runs beside the local target's servers (reading their
# prediction logs), not in a cluster yet, so a cluster run refuses checks on these before any traffic moves.
DRIFT_METRICS = frozenset(name for name, *_ in _DRIFT_DEFS)

# Cumulative values now: the engine subtracts a snapshot taken when tallying began, so experiments count
# exactly the requests, labels and rewards of their own time. max_over_time over a few scrapes is the latest
# value of a counter even when the last scrape of a busy server timed out (an instant query would then
# find the series stale and return nothing).
_LATEST = "sum(max_over_time({metric}[10s]))"
COUNTERS: dict[str, Template] = {
    "requests": Template(_LATEST.format(metric=f"bentoml_service_request_total{{{_PREDICT}}}")),
    "feedback": Template(_LATEST.format(metric=f"rolloutlab_feedback_total{{{_MODEL}}}")),
    "reward": Template(_LATEST.format(metric=f"rolloutlab_reward_total{{{_MODEL}}}")),
    # Requests answered 5xx: the user got no prediction, so no label ever comes; an experiment counts
    # each as a reward of 0. `or vector(0)`: an arm that never failed has no 5xx series at all.
    "errors": Template("(" + _LATEST.format(metric=f'bentoml_service_request_total{{{_PREDICT},http_response_code=~"5.."}}')
                       + " or vector(0))"),
}
# Per-user sums kept by the load generator (where users live), per version that served them; they start
# at zero with the load, and being sums of squares they cannot be differenced like counters.
USER_MOMENTS = ("exposed", "users", "y", "n", "y2", "n2", "yn")
# Filtered to the run's own load generator (its `run` target label): a previous run's series linger in
# Prometheus for a few seconds after its Locust is gone.
USER_MOMENT = Template('sum(max_over_time(rolloutlab_client_user_moments{version="$version",moment="$moment"$run}[10s]))')


def render_counter(name: str, version: str) -> str:
    return COUNTERS[name].substitute(version=version)


def render_user_moment(moment: str, version: str, run: str | None = None) -> str:
    return USER_MOMENT.substitute(version=version, moment=moment, run=f',run="{run}"' if run else "")


def window(window_seconds: float) -> str:
    """A PromQL range for the last window_seconds (whole seconds, at least 2: scrapes are 1 s apart)."""
    return f"{max(2, round(window_seconds))}s"


def render(name: str, version: str, window_seconds: float) -> str:
    """The named raw series for one version over the last window_seconds."""
    return SERIES[name].substitute(version=version, window=window(window_seconds))


def render_metric(name: str, version: str, window_seconds: float) -> str:
    """The named judgeable metric for one version over the last window_seconds."""
    w = window(window_seconds)
    return METRICS[name].template.substitute(version=version, window=w, seconds=w.removesuffix("s"))


# Per-version series over a whole run, for its report and the live view: one query per metric, by version,
# each a rate over the last $window (a few scrapes, so a 1 s resolution is smooth but still honest).
_BY_VERSION = 'job="model",endpoint="/predict"'
BY_VERSION: dict[str, Template] = {
    "rps": Template(f"sum by (version) (rate(bentoml_service_request_total{{{_BY_VERSION}}}[$window]))"),
    "errors_per_s": Template(
        f'sum by (version) (rate(bentoml_service_request_total{{{_BY_VERSION},http_response_code=~"5.."}}[$window]))'),
    "p50_ms": Template("1000 * histogram_quantile(0.5, sum by (version, le) "
                       f"(rate(bentoml_service_request_duration_seconds_bucket{{{_BY_VERSION}}}[$window])))"),
    "p95_ms": Template("1000 * histogram_quantile(0.95, sum by (version, le) "
                       f"(rate(bentoml_service_request_duration_seconds_bucket{{{_BY_VERSION}}}[$window])))"),
    "p99_ms": Template("1000 * histogram_quantile(0.99, sum by (version, le) "
                       f"(rate(bentoml_service_request_duration_seconds_bucket{{{_BY_VERSION}}}[$window])))"),
    "feedback_per_s": Template('sum by (version) (rate(rolloutlab_feedback_total{job="model"}[$window]))'),
    "reward_per_s": Template('sum by (version) (rate(rolloutlab_reward_total{job="model"}[$window]))'),
    "routing_weight": Template("sum by (version) (rolloutlab_routing_weight)"),
}


def render_by_version(name: str, window_seconds: float) -> str:
    """The named by-version series, each point a rate over the last window_seconds."""
    return BY_VERSION[name].substitute(window=window(window_seconds))


# What a version's users got from the router: its 5xx answers, including the 502s NGINX gives when the
# version's server is gone (the server then counts nothing itself).
ROUTER_ERRORS = Template('sum(increase(rolloutlab_router_requests_total{job="router",version="$version",code=~"5.."}[$window]))')


def render_router_errors(version: str, window_seconds: float) -> str:
    return ROUTER_ERRORS.substitute(version=version, window=window(window_seconds))


# Requests answered within `le` seconds over the window (le="+Inf": all of them), the counts a sequential
# latency check tests (analysis/sequential.py). `le` as the model servers' prometheus_client writes it.
_BUCKET = Template(f'sum(increase(bentoml_service_request_duration_seconds_bucket{{{_PREDICT},le="$le"}}[$window]))')


def render_bucket(version: str, le: float, window_seconds: float) -> str:
    """Requests of `version` answered within `le` seconds (math.inf: all) over the last window_seconds."""
    label = "+Inf" if le == float("inf") else repr(float(le))
    return _BUCKET.substitute(version=version, le=label, window=window(window_seconds))


# The gateway's own counts, per version, where the stack scrapes an existing gateway (rolloutlab:gatewayMetrics:
# Traefik's `traefik_service_requests_total`, labelled `version` by backend Service in job "gateway"). They
# see what the model's counters cannot: a 5xx the gateway answered itself (no endpoint, backend down) and
# the split the data plane really applied.
_GATEWAY = 'job="gateway",version="$version"'
_GATEWAY_REQUESTS = f"sum(increase(traefik_service_requests_total{{{_GATEWAY}}}[$window]))"
_GATEWAY_ERRORS = f'sum(increase(traefik_service_requests_total{{{_GATEWAY},code=~"5.."}}[$window]))'
GATEWAY: dict[str, Template] = {
    "gateway_requests": Template(_GATEWAY_REQUESTS),
    "gateway_errors": Template(f"({_GATEWAY_ERRORS} or vector(0))"),
    "gateway_error_rate": Template(f"({_GATEWAY_ERRORS} or vector(0)) / ({_GATEWAY_REQUESTS})"),
    # The applied weight: this version's share of everything the gateway sent to the lab's versions.
    "gateway_share": Template(f'({_GATEWAY_REQUESTS}) / '
                              f'(sum(increase(traefik_service_requests_total{{job="gateway",version!=""}}[$window])))'),
}


def render_gateway(name: str, version: str, window_seconds: float) -> str:
    """The named gateway series for one version over the last window_seconds."""
    return GATEWAY[name].substitute(version=version, window=window(window_seconds))
