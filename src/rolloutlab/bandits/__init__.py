"""Bandit policies, one per file: posteriors (successes, trials per arm) → integer weights per arm."""
