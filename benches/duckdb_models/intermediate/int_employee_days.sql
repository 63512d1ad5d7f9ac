-- DuckDB translation of sql/intermediate/int_employee_days.sql (materialized: view).
CREATE VIEW intermediate.int_employee_days AS
-- One row per employee (worker_type = 'Employee', contingent workers excluded) and calendar day
-- inside the employment, over [history_start, as_of] and the capacity_plan window (the 12 ISO weeks
-- from the first Monday after as_of). Per working day (Mon-Fri): standard = weekly hours / 5; a
-- holiday of the employee's country removes the day; approved time off removes its hours, at most
-- what is left of the day. Weekend days carry no capacity. Hours are exact decimals (the source's
-- doubles read to 6 places; a fifth of a week is exact), so sums never depend on their order.
WITH rc AS (
    SELECT history_start, as_of,
           CAST(date_trunc('week', as_of) AS DATE) + 7 AS plan_start
    FROM pslake.run_context
),
days AS (
    SELECT CAST(d AS DATE) AS day, 'actual' AS period
    FROM (SELECT unnest(generate_series(history_start, as_of, INTERVAL '1 day')) AS d FROM rc) a
    UNION ALL
    SELECT CAST(d AS DATE) AS day, 'plan' AS period
    FROM (SELECT unnest(generate_series(plan_start, plan_start + 83, INTERVAL '1 day')) AS d FROM rc) p
),
emp AS (
    SELECT employee_id, practice, country, hire_date, termination_date, CAST(CAST(coalesce(weekly_hours, 0.0) AS DECIMAL(18,6)) / CAST(5 AS DECIMAL(18,0)) AS DECIMAL(18,8)) AS std
    FROM canonical.dim_employee
    WHERE worker_type = 'Employee'
),
holidays AS (
    SELECT DISTINCT country, holiday_date FROM staging.stg_workday_holidays
),
time_off AS (
    SELECT employee_id, time_off_date, sum(CAST(hours AS DECIMAL(18,6))) AS hours
    FROM staging.stg_workday_time_off
    WHERE status = 'Approved'
    GROUP BY employee_id, time_off_date
),
base AS (
    SELECT
        e.employee_id,
        e.practice,
        d.day,
        d.period,
        CAST(date_trunc('week', d.day) AS DATE) AS week_start,
        extract(isodow FROM d.day) <= 5 AS is_workday,
        h.holiday_date IS NOT NULL AS is_holiday,
        e.std,
        coalesce(t.hours, CAST(0 AS DECIMAL(18,6))) AS time_off_requested
    FROM emp e
    JOIN days d
      ON (e.hire_date IS NULL OR d.day >= e.hire_date)
     AND (e.termination_date IS NULL OR d.day <= e.termination_date)
    LEFT JOIN holidays h ON h.country = e.country AND h.holiday_date = d.day
    LEFT JOIN time_off t ON t.employee_id = e.employee_id AND t.time_off_date = d.day
)
SELECT
    employee_id,
    practice,
    day,
    period,
    week_start,
    CAST(CASE WHEN is_workday THEN std ELSE 0 END AS DECIMAL(18,8)) AS standard_hours,
    CAST(CASE WHEN is_workday AND is_holiday THEN std ELSE 0 END AS DECIMAL(18,8)) AS holiday_hours,
    CAST(CASE WHEN is_workday AND NOT is_holiday THEN least(greatest(time_off_requested, CAST(0 AS DECIMAL(18,8))), std) ELSE 0 END AS DECIMAL(18,8)) AS time_off_hours,
    CAST(CASE WHEN is_workday AND NOT is_holiday THEN std - least(greatest(time_off_requested, CAST(0 AS DECIMAL(18,8))), std) ELSE 0 END AS DECIMAL(18,8)) AS capacity_hours
FROM base;
