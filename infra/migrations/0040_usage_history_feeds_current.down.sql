DROP VIEW IF EXISTS usage_events_from_history_mv;
