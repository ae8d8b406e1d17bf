-- Stored responses of push calls made with an Idempotency-Key (written by ingress). A replay of
-- the same organization + key returns the oldest stored response; rows are kept 2 days by TTL
-- (the contract promises at least 24 hours; ingress honours them for 24 hours by default).
CREATE TABLE IF NOT EXISTS idempotency_responses
(
    org_id          String COMMENT 'Organization',
    idempotency_key String COMMENT 'The Idempotency-Key header of the request',
    fingerprint     String COMMENT 'SHA-256 of the request body and dry_run flag',
    status_code     UInt16 COMMENT 'Stored status (200 or 422)',
    body            String COMMENT 'Stored response body (JSON)',
    created_at      DateTime64(3, 'UTC') COMMENT 'When the response was stored'
)
ENGINE = MergeTree
ORDER BY (org_id, idempotency_key, created_at)
TTL toDateTime(created_at) + INTERVAL 2 DAY
COMMENT 'Idempotent push responses (ingress bookkeeping, not usage data).';
