"""Metrics sources: where analysis reads numbers from (Prometheus, or static values in tests)."""
