"""Stats service: anonymised weekly aggregates with small-cell suppression, for national monitoring."""
