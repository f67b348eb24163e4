"""Helpers of the locustfile: seeded traffic, settings from the environment, client metrics, watchdog.

Self-contained (standard library, prometheus_client, and gevent only inside a Locust process), so the
loadtests/ folder runs unchanged in a container next to a stock Locust.
"""
