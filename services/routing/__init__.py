"""Routing service: rules engine and decisions."""
