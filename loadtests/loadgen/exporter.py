"""Client-side metrics of the load generator, served in Prometheus' text format from inside Locust.

Requests, failures and latency per served version and feedback outcomes, so Prometheus holds the
client's view and the servers' view on one timeline. Each process that runs users exports its own
counters (Prometheus sums them); the process that runs the shape exports the target user count.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Fine at the low end (a scikit-learn model answers in a few ms) and wide enough for overload.
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04,
                   0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

NO_RESPONSE = "none"  # served_version when no HTTP response came back at all
UNKNOWN_VERSION = "unknown"  # served_version when a response named no version


def prediction_outcome(status: int, named_version: bool) -> str:
    """ok | no_version | http_4xx | http_5xx | connection_error (status 0: no HTTP response)."""
    if status == 0:
        return "connection_error"
    if 200 <= status < 300:
        return "ok" if named_version else "no_version"
    return "http_4xx" if 400 <= status < 500 else "http_5xx"


def feedback_outcome(status: int) -> str:
    """accepted | unknown_request (404: the server never saw that request id) | rejected | error."""
    if 200 <= status < 300:
        return "accepted"
    if status == 404:
        return "unknown_request"
    if 400 <= status < 500:
        return "rejected"
    return "error"


class UserMomentTracker:
    """Per-user reward sums by version, kept where users live (each in one Locust process), exported as the
    sums over users that a delta-method variance needs; every process' sums add up in Prometheus."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.exposed: set[tuple[str, str]] = set()
        self.per_user: dict[tuple[str, str], list[float]] = {}  # (version, user) -> [rewards, labels]

    def _add(self, version: str, moment: str, amount: float) -> None:
        self.gauge.labels(version, moment).inc(amount)

    def exposure(self, version: str, user: str) -> None:
        if (version, user) not in self.exposed:
            self.exposed.add((version, user))
            self._add(version, "exposed", 1)

    def reward(self, version: str, user: str, reward: float, labels: float) -> None:
        key = (version, user)
        old_y, old_n = self.per_user.get(key, (0.0, 0.0))
        new_y, new_n = old_y + reward, old_n + labels
        self.per_user[key] = [new_y, new_n]
        if old_n == 0:
            self._add(version, "users", 1)
        self._add(version, "y", reward)
        self._add(version, "n", labels)
        self._add(version, "y2", new_y**2 - old_y**2)
        self._add(version, "n2", new_n**2 - old_n**2)
        self._add(version, "yn", new_y * new_n - old_y * old_n)


class ClientMetrics:
    """The metric families, on a registry of their own (nothing else of the process leaks in)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "rolloutlab_client_requests", "Predictions sent by the load generator, by the version that answered.",
            ["served_version", "outcome"], registry=self.registry)
        self.duration = Histogram(
            "rolloutlab_client_request_duration_seconds", "Prediction latency seen by the client.",
            ["served_version"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.feedback = Counter(
            "rolloutlab_client_feedback", "Labels posted to /feedback, by the version that made the prediction.",
            ["version", "outcome"], registry=self.registry)
        self.feedback_pending = Gauge(
            "rolloutlab_client_feedback_pending", "Labels waiting for their delay to pass.", registry=self.registry)
        self.users = Gauge("rolloutlab_client_users", "Locust users running in this process.", registry=self.registry)
        self.target_users = Gauge(
            "rolloutlab_load_target_users", "Users the load shape asks for now (shape process only).",
            registry=self.registry)
        self.cpu = Gauge("rolloutlab_client_cpu_percent", "CPU use of this Locust process (100 = one core).",
                         registry=self.registry)

        self.user_moments = Gauge(
            "rolloutlab_client_user_moments",
            "Per-user sums per version that served them (A/B analysis by user): exposed, users (with a label), "
            "y (rewards), n (labels), y2, n2, yn (sums over users of squares and products)",
            ["version", "moment"], registry=self.registry)
        self.moments = UserMomentTracker(self.user_moments)

    def observe_prediction(self, served_version: str, outcome: str, seconds: float) -> None:
        self.requests.labels(served_version, outcome).inc()
        if outcome != "connection_error":
            self.duration.labels(served_version).observe(seconds)

    def observe_feedback(self, version: str, outcome: str) -> None:
        self.feedback.labels(version, outcome).inc()

    def bind(self, users: Callable[[], float] | None, target_users: Callable[[], float] | None,
             cpu: Callable[[], float]) -> None:
        """Gauges read live from the Locust runner at scrape time."""
        if users is not None:
            self.users.set_function(users)
        if target_users is not None:
            self.target_users.set_function(target_users)
        self.cpu.set_function(cpu)

    def write(self, path: str) -> None:
        """Save the final counters (the exporter disappears with the process; the run keeps this file)."""
        from prometheus_client import write_to_textfile

        write_to_textfile(path, self.registry)

    def serve(self, host: str, port: int) -> object:
        """Start the /metrics HTTP server in this (gevent) process; returns the server to stop later."""
        from gevent.pywsgi import WSGIServer  # only inside Locust, whose loop runs it cooperatively
        from prometheus_client import make_wsgi_app

        server = WSGIServer((host, port), make_wsgi_app(self.registry), log=None, error_log=None)
        server.start()
        return server
