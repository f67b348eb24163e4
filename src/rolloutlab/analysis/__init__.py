"""Analysis: turn measurements into a Verdict (measuring and judging are kept apart)."""
