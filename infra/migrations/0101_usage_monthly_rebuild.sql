-- Every monthly summary is made again. A refresh could mark a month complete with no rows in
-- usage_monthly when an older summary of the same month was still kept: its FINAL merged across
-- the month's partitions and kept the older version's rows, which the version filter then dropped.
-- The refresher now reads one partition at a time; usage queries read the daily values until the
-- next rounds have summarized every month again.
TRUNCATE TABLE IF EXISTS usage_monthly_refreshes;
TRUNCATE TABLE IF EXISTS usage_monthly;
TRUNCATE TABLE IF EXISTS usage_monthly_by_properties;
ALTER TABLE usage_monthly_by_properties COMMENT COLUMN properties 'The values'' properties text (LowCardinality: stored once per distinct text of a part)';
