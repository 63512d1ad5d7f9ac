-- DuckDB translation of sql/staging/stg_workday_holidays.sql (materialized: view).
CREATE VIEW staging.stg_workday_holidays AS
-- Workday Holidays report: only the latest run's snapshot, one row per country and date.
WITH latest AS (
    SELECT _run_id FROM raw.workday_holidays ORDER BY _extracted_at DESC LIMIT 1
),
ranked AS (
    SELECT h.*,
           row_number() OVER (PARTITION BY h.country, h.date ORDER BY h._extracted_at DESC) AS rn
    FROM raw.workday_holidays h
    JOIN latest l ON h._run_id = l._run_id
)
SELECT
    country,
    date AS holiday_date,
    holiday_name
FROM ranked
WHERE rn = 1;
