"""Intake service: decode, validate, deduplicate, normalise."""
