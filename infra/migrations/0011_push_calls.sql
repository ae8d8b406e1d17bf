-- One row per authenticated push call (written by ingress in batches, off the request path);
-- shown by the configuration panel (GET /admin/v1/orgs/{org_id}/push-calls).
CREATE TABLE IF NOT EXISTS push_calls
(
    org_id                 String COMMENT 'Organization',
    received_at            DateTime64(3, 'UTC') COMMENT 'When ingress received the call',
    mode                   LowCardinality(String) COMMENT 'live or test (verify-only)',
    status_code            UInt16 COMMENT 'HTTP status answered',
    error_code             LowCardinality(String) COMMENT 'Error code when not 200, else empty',
    total                  UInt32 COMMENT 'Events in the request (0 when it was rejected as a whole)',
    matched                UInt32 COMMENT 'Events whose external_customer_id resolved',
    unmatched              UInt32 COMMENT 'Events dropped as UNKNOWN_CUSTOMER',
    inserted               UInt32 COMMENT 'Events written to the event log',
    unmatched_external_ids Array(String) COMMENT 'Up to 100 distinct unrecognized external IDs',
    idempotency_replayed   UInt8 COMMENT '1 when the answer was a stored idempotent response'
)
ENGINE = MergeTree
ORDER BY (org_id, received_at)
TTL toDateTime(received_at) + INTERVAL 30 DAY
COMMENT 'Push API call log per organization (30 days).';
