"""Integrators' rule tooling behind `referral-bus rules`: fixture runner, explain/diff, YAML JSON schemas."""
