"""Notifier service: channels, retries, acknowledgements, SLA."""
