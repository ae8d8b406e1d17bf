-- Views for data teams over the versioned control-plane tables: one current row per key,
-- removed rows left out, correct before background merges (argMax by version).

CREATE VIEW IF NOT EXISTS organizations_current AS
SELECT org_id, argMax(name, version) AS name, min(created_at) AS created_at
FROM organizations
GROUP BY org_id;

CREATE VIEW IF NOT EXISTS customers_current AS
SELECT org_id, customer_id, name, updated_at
FROM
(
    SELECT org_id, customer_id,
           argMax(name, version) AS name,
           argMax(updated_at, version) AS updated_at,
           argMax(is_deleted, version) AS deleted
    FROM customers
    GROUP BY org_id, customer_id
)
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS customer_external_ids_current AS
SELECT org_id, external_id, source, customer_id
FROM
(
    SELECT org_id, external_id,
           argMax(source, version) AS source,
           argMax(customer_id, version) AS customer_id,
           argMax(is_deleted, version) AS deleted
    FROM customer_external_ids
    GROUP BY org_id, external_id
)
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS push_configurations_current AS
SELECT org_id,
       argMax(source, version) AS source,
       argMax(status, version) AS status,
       argMax(created_at, version) AS created_at,
       argMax(published_at, version) AS published_at
FROM push_configurations
GROUP BY org_id;

CREATE VIEW IF NOT EXISTS metrics AS
SELECT s.org_id AS org_id,
       s.metric_key AS metric_key,
       if(r.rollup = '', 'sum', r.rollup) AS rollup,
       s.first_seen_at AS first_seen_at,
       s.last_seen_at AS last_seen_at
FROM
(
    SELECT org_id, metric_key, min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at
    FROM metric_sightings
    GROUP BY org_id, metric_key
) AS s
LEFT JOIN
(
    SELECT org_id, metric_key, argMax(rollup, version) AS rollup
    FROM metric_rollups
    GROUP BY org_id, metric_key
) AS r ON s.org_id = r.org_id AND s.metric_key = r.metric_key;
