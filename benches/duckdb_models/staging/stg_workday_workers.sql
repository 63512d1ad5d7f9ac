-- DuckDB translation of sql/staging/stg_workday_workers.sql (materialized: view).
CREATE VIEW staging.stg_workday_workers AS
-- Workday Workers report: only the latest run's snapshot, one row per Employee_ID.
WITH latest AS (
    SELECT _run_id FROM raw.workday_workers ORDER BY _extracted_at DESC LIMIT 1
),
ranked AS (
    SELECT w.*,
           row_number() OVER (PARTITION BY w.employee_id ORDER BY w._extracted_at DESC, w.last_updated DESC) AS rn
    FROM raw.workday_workers w
    JOIN latest l ON w._run_id = l._run_id
)
SELECT
    employee_id,
    worker                   AS employee_name,
    email,
    worker_type,
    job_profile,
    practice,
    cost_center,
    location_country         AS country,
    hire_date,
    termination_date,
    scheduled_weekly_hours   AS weekly_hours,
    hourly_cost_rate         AS hourly_cost_rate,
    cost_rate_currency       AS cost_currency
FROM ranked
WHERE rn = 1;
