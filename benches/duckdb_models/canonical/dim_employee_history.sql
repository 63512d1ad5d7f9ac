-- DuckDB translation of sql/canonical/dim_employee_history.sql (materialized: table).
CREATE TABLE canonical.dim_employee_history AS
-- Effective-dated employee versions (SPEC 4b.11): one row per version, valid_to exclusive and NULL
-- for the current one. Labour cost, utilization's standard day and practice use the version valid
-- on the work date (intermediate.int_employee_versions), so a raise never rewrites past margin.
SELECT
    employee_id,
    valid_from,
    valid_to,
    practice,
    job_profile,
    CAST(CAST(CAST(weekly_hours AS DECIMAL(18,6)) AS DECIMAL(18,4)) AS DOUBLE) AS weekly_hours,
    CAST(hourly_cost_rate AS DECIMAL(18,2)) AS hourly_cost,
    cost_currency,
    is_current
FROM intermediate.int_employee_versions;
