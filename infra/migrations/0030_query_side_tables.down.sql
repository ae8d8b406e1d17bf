DROP VIEW IF EXISTS usage_events_by_customer_mv;
DROP TABLE IF EXISTS usage_events_by_customer;
DROP VIEW IF EXISTS usage_event_locator_mv;
DROP TABLE IF EXISTS usage_event_locator;
