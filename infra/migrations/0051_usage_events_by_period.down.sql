DROP VIEW IF EXISTS usage_events_by_period_mv;
DROP TABLE IF EXISTS usage_events_by_period;
