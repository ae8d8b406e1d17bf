DROP VIEW IF EXISTS usage_property_sets_mv;
DROP TABLE IF EXISTS usage_property_sets;
