"""Targets: where the lab's model versions, router and Prometheus run."""
