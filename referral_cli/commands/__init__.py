"""CLI command groups, one module per `referral-bus` group; each exposes `register(subparsers)`."""
