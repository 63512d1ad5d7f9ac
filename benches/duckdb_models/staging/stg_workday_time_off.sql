-- DuckDB translation of sql/staging/stg_workday_time_off.sql (materialized: view).
CREATE VIEW staging.stg_workday_time_off AS
-- Workday Time_Off report: only the latest run's snapshot.
WITH latest AS (
    SELECT _run_id FROM raw.workday_time_off ORDER BY _extracted_at DESC LIMIT 1
),
ranked AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY t.time_off_entry_id ORDER BY t._extracted_at DESC) AS rn
    FROM raw.workday_time_off t
    JOIN latest l ON t._run_id = l._run_id
)
SELECT
    time_off_entry_id,
    employee_id,
    date        AS time_off_date,
    hours,
    time_off_type,
    status
FROM ranked
WHERE rn = 1;
