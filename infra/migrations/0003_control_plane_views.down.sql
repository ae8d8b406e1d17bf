DROP VIEW IF EXISTS metrics;
DROP VIEW IF EXISTS push_configurations_current;
DROP VIEW IF EXISTS customer_external_ids_current;
DROP VIEW IF EXISTS customers_current;
DROP VIEW IF EXISTS organizations_current;
