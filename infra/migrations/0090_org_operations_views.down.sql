DROP VIEW IF EXISTS org_events_per_day;
