"""Reports: render what a run's journal recorded."""
