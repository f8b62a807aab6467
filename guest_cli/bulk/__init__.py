"""Bulk onboarding from a CSV file: reading the formats, pacing to Graph's limits, the results file, progress."""
