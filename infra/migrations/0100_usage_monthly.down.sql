DROP TABLE IF EXISTS usage_monthly_refreshes;
DROP TABLE IF EXISTS usage_monthly_by_properties;
DROP TABLE IF EXISTS usage_monthly;
