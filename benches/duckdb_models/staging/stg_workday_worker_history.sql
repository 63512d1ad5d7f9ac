-- DuckDB translation of sql/staging/stg_workday_worker_history.sql (materialized: view).
CREATE VIEW staging.stg_workday_worker_history AS
-- Workday Worker_History report: only the latest run's snapshot (a full report each run), one row
-- per employee and effective date. Each row is a version of the worker's practice, job profile,
-- weekly hours and cost rate, in effect from Effective_Date until the next one.
WITH latest AS (
    SELECT _run_id FROM raw.workday_worker_history ORDER BY _extracted_at DESC LIMIT 1
),
ranked AS (
    SELECT h.*,
           row_number() OVER (PARTITION BY h.employee_id, h.effective_date ORDER BY h._extracted_at DESC, h._raw) AS rn
    FROM raw.workday_worker_history h
    JOIN latest l ON h._run_id = l._run_id
)
SELECT
    employee_id,
    effective_date,
    practice,
    job_profile,
    scheduled_weekly_hours   AS weekly_hours,
    hourly_cost_rate,
    cost_rate_currency       AS cost_currency
FROM ranked
WHERE rn = 1 AND employee_id IS NOT NULL AND effective_date IS NOT NULL;
