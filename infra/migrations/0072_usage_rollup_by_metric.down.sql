-- usage_rollup as migration 0070 created it (over usage_events).
CREATE OR REPLACE VIEW usage_rollup
COMMENT 'Parameterized: usage per org + metric + customer (+ properties) + window, rolled up with each metric''s rollup.'
AS SELECT
    g.org_id AS org_id,
    g.metric_key AS metric_key,
    g.customer_id AS customer_id,
    g.properties AS properties,
    toTimeZone(g.window_start, 'UTC') AS window_start,
    toTimeZone(g.window_end, 'UTC') AS window_end,
    if({rollup:String} != '', {rollup:String}, if(r.rollup = '', 'sum', r.rollup)) AS rollup,
    multiIf(rollup = 'max', g.max_value, rollup = 'min', g.min_value, rollup = 'avg', g.avg_value,
            rollup = 'last', g.last_value, g.sum_value) AS value,
    g.periods AS periods
FROM
(
    SELECT org_id, metric_key, customer_id, properties, window_start,
           multiIf({window_size:String} = 'hour', toStartOfHour(window_start + INTERVAL 90 MINUTE, {timezone:String}),
                   {window_size:String} = 'day', toStartOfDay(window_start + INTERVAL 36 HOUR, {timezone:String}),
                   {window_size:String} = 'week', toDateTime(toMonday(window_start + INTERVAL 10 DAY, {timezone:String}), {timezone:String}),
                   {window_size:String} = 'month', toDateTime(toStartOfMonth(window_start + INTERVAL 45 DAY, {timezone:String}), {timezone:String}),
                   {window_size:String} = 'quarter', toDateTime(toStartOfQuarter(window_start + INTERVAL 135 DAY, {timezone:String}), {timezone:String}),
                   {window_size:String} = 'year', toDateTime(toStartOfYear(window_start + INTERVAL 540 DAY, {timezone:String}), {timezone:String}),
                   toDateTime({end_time:DateTime('UTC')}, {timezone:String})) AS window_end,
           sum(value) AS sum_value, max(value) AS max_value, min(value) AS min_value,
           avg(value) AS avg_value, argMax(value, period_start) AS last_value, count() AS periods
    FROM
    (
        SELECT org_id, metric_key, customer_id, period_start, value,
               multiIf({window_size:String} = 'hour', toStartOfHour(period_start, {timezone:String}),
                       {window_size:String} = 'day', toStartOfDay(period_start, {timezone:String}),
                       {window_size:String} = 'week', toDateTime(toMonday(period_start, {timezone:String}), {timezone:String}),
                       {window_size:String} = 'month', toDateTime(toStartOfMonth(period_start, {timezone:String}), {timezone:String}),
                       {window_size:String} = 'quarter', toDateTime(toStartOfQuarter(period_start, {timezone:String}), {timezone:String}),
                       {window_size:String} = 'year', toDateTime(toStartOfYear(period_start, {timezone:String}), {timezone:String}),
                       toDateTime({start_time:DateTime('UTC')}, {timezone:String})) AS window_start,
               arrayMap(raw -> if(raw = 'null', '', raw),
                        arrayMap(name -> JSONExtractRaw(properties, name), {group_properties:Array(String)})) AS properties
        FROM usage_events FINAL
        WHERE org_id = {org_id:String} AND granularity = {granularity:String}
          AND period_start >= {start_time:DateTime('UTC')} AND period_start < {end_time:DateTime('UTC')}
    )
    GROUP BY org_id, metric_key, customer_id, properties, window_start
) AS g
LEFT JOIN metric_rollups_current AS r ON r.org_id = g.org_id AND r.metric_key = g.metric_key;
