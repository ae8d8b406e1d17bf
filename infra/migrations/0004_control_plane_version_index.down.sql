ALTER TABLE customer_external_ids DROP INDEX IF EXISTS idx_version;
