"""referral-bus shared library: contracts, codec, settings, logging, tracing, topic names."""

__version__ = "0.1.0"
