"""Drift and feature-attribution monitoring: label-free detectors per window, against a reference.

One detector per file (feature_tests, new_values, predictions, domain_classifier, attribution,
performance), combined per window by window.py, calibrated on undrifted traffic by calibration.py, run
against the servers' prediction logs and exported to Prometheus by monitor.py (`python -m
rolloutlab.drift`, a process the local target starts).
"""
