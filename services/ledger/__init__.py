"""The ledger worker: chains Disclosure events and erasures into the append-only, tamper-evident ledger."""
