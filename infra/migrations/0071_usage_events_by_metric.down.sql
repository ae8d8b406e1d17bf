DROP VIEW IF EXISTS usage_events_by_metric_mv;

DROP TABLE IF EXISTS usage_events_by_metric;
