DROP TABLE IF EXISTS warehouse_scheduler_lease;
DROP TABLE IF EXISTS warehouse_runs;
DROP TABLE IF EXISTS warehouse_sources;
