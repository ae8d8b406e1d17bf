-- Dead letters: records the streams worker could not store, one row per record of the dead-letter
-- topic. Fed by the streams worker's dead-letter recorder (it consumes that topic); listed by the
-- admin API (GET /admin/v1/orgs/{org_id}/dead-letters) and `quivly dead-letters list`, re-produced
-- to the usage topic by `quivly dead-letters replay`. letter_id is derived from the position of
-- the original record (its topic/partition/offset), so a letter delivered twice collapses.
CREATE TABLE IF NOT EXISTS usage_dead_letters
(
    org_id           String COMMENT 'Organization of the record (empty when it cannot be read)',
    letter_id        UUID COMMENT 'Stable ID of the dead letter (from the position of the original record)',
    dead_lettered_at DateTime64(3, 'UTC') COMMENT 'When the worker dead-lettered the record',
    reason           String COMMENT 'Why: the decoding error or the refusal of ClickHouse',
    source           String COMMENT 'topic/partition/offset of the original record',
    record_key       String COMMENT 'The original Kafka key (bytes as they were)',
    record           String COMMENT 'The original Kafka value (bytes as they were)',
    dead_letter_offset UInt64 COMMENT 'Offset in the dead-letter topic'
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, letter_id)
COMMENT 'Records the streams worker dead-lettered (fed from the dead-letter topic).';
