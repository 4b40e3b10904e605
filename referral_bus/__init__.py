"""referral-bus runtime kernel: what the three workers import, and only that."""

__version__ = "0.1.0"
