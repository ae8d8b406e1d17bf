DROP VIEW IF EXISTS usage_rollup;

DROP VIEW IF EXISTS metric_rollups_current;
