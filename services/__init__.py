"""The three referral-bus services; none imports another."""
