-- Per-organization operations figures for operators and data teams (the Prometheus metrics carry
-- no organization label, by design). usage_event_history holds every accepted write once per
-- (event_id, version): a replayed batch inserts identical rows, which are counted once here even
-- before background merges collapse them. Filter on org_id and day: the table is ordered by
-- org_id and partitioned by the month of ingested_at, so only that organization's months are read.
CREATE VIEW IF NOT EXISTS org_events_per_day AS
SELECT
    org_id,
    toDate(ingested_at) AS day,
    uniqExact(event_id, version) AS events_written,
    uniqExact(event_id) AS values_written,
    uniqExact(customer_id) AS customers,
    max(ingested_at) AS last_ingested_at
FROM usage_event_history
GROUP BY org_id, day;
