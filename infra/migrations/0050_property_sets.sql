-- Every distinct properties text of each organization, by hash: the query service evaluates a
-- property filter over these few texts instead of over every value (query/count_cache.py profiles
-- count current values per properties hash). Filled from usage_events by a materialized view, so it
-- also holds the properties of replaced versions: harmless, it is a dictionary, not a count.
CREATE TABLE IF NOT EXISTS usage_property_sets
(
    org_id          String COMMENT 'Organization',
    properties_hash UInt64 COMMENT 'cityHash64(properties)',
    properties      String COMMENT 'Event properties as stored in usage_events (compact JSON, keys sorted)'
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, properties_hash)
COMMENT 'Distinct properties texts per organization (fed by usage_property_sets_mv).';

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_property_sets_mv TO usage_property_sets
AS SELECT DISTINCT org_id, cityHash64(properties) AS properties_hash, properties FROM usage_events;

-- Backfill (the view exists first: a text inserted meanwhile lands twice and collapses).
INSERT INTO usage_property_sets
SELECT DISTINCT org_id, cityHash64(properties) AS properties_hash, properties FROM usage_events;
