-- Dead letters per organization and day (usage_dead_letters, migration 0065): what the worker
-- could not store, for operators and data teams (the Prometheus counter has no organization
-- label). A letter delivered twice has one letter_id and is counted once before merges.
CREATE VIEW IF NOT EXISTS org_dead_letters_per_day AS
SELECT
    org_id,
    toDate(dead_lettered_at) AS day,
    uniqExact(letter_id) AS dead_letters,
    max(dead_lettered_at) AS last_dead_lettered_at
FROM usage_dead_letters
GROUP BY org_id, day;
