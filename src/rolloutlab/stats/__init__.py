"""Statistics for experiments, one test per file: sample size, sample-ratio mismatch, proportions, sequential."""
