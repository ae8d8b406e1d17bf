DROP TABLE IF EXISTS idempotency_responses;
