-- DuckDB translation of sql/intermediate/int_employee_versions.sql (materialized: table).
CREATE TABLE intermediate.int_employee_versions AS
-- Every worker's effective-dated versions (SPEC 4b, dim_employee_history): the Worker_History rows
-- of a worker of the latest Workers snapshot, or, for a worker with no history rows, one version
-- from Hire_Date built from the Workers record. valid_to is the next version's valid_from
-- (exclusive), NULL for the current (latest) one. applies_from is valid_from, except NULL for the
-- first version: before an employee's first version, the first version applies. A date d takes
-- the version with (applies_from IS NULL OR d >= applies_from) AND (valid_to IS NULL OR d < valid_to).
WITH hist AS (
    SELECT h.employee_id, h.effective_date AS valid_from, h.practice, h.job_profile, h.weekly_hours,
           h.hourly_cost_rate, h.cost_currency
    FROM staging.stg_workday_worker_history h
    JOIN staging.stg_workday_workers w ON w.employee_id = h.employee_id
),
versions AS (
    SELECT employee_id, valid_from, practice, job_profile, weekly_hours, hourly_cost_rate, cost_currency
    FROM hist
    UNION ALL
    SELECT w.employee_id, w.hire_date AS valid_from, w.practice, w.job_profile, w.weekly_hours,
           w.hourly_cost_rate, w.cost_currency
    FROM staging.stg_workday_workers w
    WHERE NOT EXISTS (SELECT 1 FROM hist h WHERE h.employee_id = w.employee_id)
),
ordered AS (
    SELECT v.*,
           lead(valid_from) OVER (PARTITION BY employee_id ORDER BY valid_from) AS valid_to,
           row_number() OVER (PARTITION BY employee_id ORDER BY valid_from) AS version_no
    FROM versions v
)
SELECT
    employee_id,
    valid_from,
    valid_to,
    CASE WHEN version_no = 1 THEN CAST(NULL AS DATE) ELSE valid_from END AS applies_from,
    practice,
    job_profile,
    weekly_hours,
    hourly_cost_rate,
    cost_currency,
    valid_to IS NULL AS is_current
FROM ordered;
