"""referral-bus shared domain: pure logic and configuration every service may use, no Faust or Kafka."""
