-- The forecast snapshots of SPEC 4b.14: every month end s from history_start whose horizon, the
-- last day of the third month after s's month, is on or before as_of. cutoff is the end of day s
-- (the first instant after it, UTC): a change stamped before it is "at or before s".
WITH rc AS (
    SELECT history_start, as_of FROM pslake.run_context
),
months AS (
    SELECT CAST(m AS DATE) AS snapshot_month
    FROM (SELECT unnest(generate_series(CAST(date_trunc('month', history_start) AS DATE),
                                        CAST(date_trunc('month', as_of) AS DATE), INTERVAL '1 month')) AS m
          FROM rc) g
),
ends AS (
    SELECT snapshot_month,
           CAST(snapshot_month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)  AS snapshot_date,
           CAST(snapshot_month + INTERVAL '4 months' - INTERVAL '1 day' AS DATE) AS horizon
    FROM months
)
SELECT e.snapshot_date, e.snapshot_month, e.horizon,
       CAST(e.snapshot_date + INTERVAL '1 day' AS TIMESTAMP) AS cutoff
FROM ends e
CROSS JOIN rc
WHERE e.snapshot_date >= rc.history_start AND e.horizon <= rc.as_of
