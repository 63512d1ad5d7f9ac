-- DuckDB translation of sql/intermediate/int_project_month_time.sql (materialized: table).
CREATE TABLE intermediate.int_project_month_time AS
-- Approved time that passes every row rule, per project and month of work, split by whether the
-- work date is on or before as_of (in_period; NULL without a work date): the sums that revenue
-- (int_revenue_monthly), labour cost (int_project_month_activity) and the first approved time
-- (project_setup) read, so that the time entries are scanned and grouped once per build instead of
-- once per reader. Exact sums: minutes, T&M cent-minutes (same-currency ones as they are,
-- cross-currency ones in USD cent-minutes), USD cost-minutes, and the first work date.
WITH rc AS (
    SELECT as_of FROM pslake.run_context
)
SELECT
    t.project_id,
    t.work_month AS month,
    t.work_date <= rc.as_of AS in_period,
    sum(t.minutes) AS minutes,
    sum(CASE WHEN t.billable THEN t.minutes ELSE 0 END) AS billable_minutes,
    sum(CASE WHEN t.billable AND NOT t.cross_currency THEN CAST(t.minutes AS DECIMAL(20,0)) * CAST(t.rate_in_cents AS DECIMAL(20,0))
             ELSE CAST(0 AS DECIMAL(20,0)) END) AS same_cent_minutes,
    sum(CASE WHEN t.billable AND t.cross_currency THEN CAST(t.minutes AS DECIMAL(20,0)) * CAST(t.rate_in_cents AS DECIMAL(20,0)) * t.bill_fx
             ELSE CAST(0 AS DECIMAL(20,0)) END) AS cross_usd_cent_minutes,
    max(CASE WHEN t.billable AND t.cross_currency THEN 1 ELSE 0 END) AS has_cross,
    sum(CASE WHEN t.billable THEN CAST(t.minutes AS DECIMAL(20,0)) * CAST(t.rate_in_cents AS DECIMAL(20,0)) * t.bill_fx
             ELSE CAST(0 AS DECIMAL(20,0)) END) AS usd_cent_minutes,
    sum(t.cost_usd_minutes) AS cost_usd_minutes,
    min(t.work_date) AS first_date
FROM intermediate.int_time_entries_checked t CROSS JOIN rc
WHERE t.rule IS NULL AND t.approved
GROUP BY t.project_id, t.work_month, t.work_date <= rc.as_of;
