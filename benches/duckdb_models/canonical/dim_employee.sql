-- DuckDB translation of sql/canonical/dim_employee.sql (materialized: table).
CREATE TABLE canonical.dim_employee AS
-- Employees are the HCM's (Workday), linked to the PSA user whose external_reference is the id.
WITH users AS (
    SELECT employee_id, min(user_id) AS user_id
    FROM staging.stg_kantata_users
    WHERE employee_id IS NOT NULL
    GROUP BY employee_id
)
SELECT
    w.employee_id,
    w.employee_name,
    w.email,
    w.worker_type,
    w.job_profile,
    w.practice,
    w.cost_center,
    w.country,
    w.hire_date,
    w.termination_date,
    w.weekly_hours,
    CAST(w.hourly_cost_rate AS DECIMAL(18,2)) AS hourly_cost,
    w.cost_currency,
    u.user_id AS psa_user_id
FROM staging.stg_workday_workers w
LEFT JOIN users u ON u.employee_id = w.employee_id;
