"""Rollout Lab."""
