"""The strategy simulator: the same pure strategies and analysis code, driven by a simulated world, many times."""
