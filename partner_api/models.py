"""API keys, idempotency records, usage reports and webhooks for partner platforms."""
