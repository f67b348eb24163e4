"""Strategies: pure functions from (progress, verdict) to the next action."""
