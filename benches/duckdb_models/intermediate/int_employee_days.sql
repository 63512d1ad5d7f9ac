-- DuckDB translation of sql/intermediate/int_employee_days.sql (materialized: view).
CREATE VIEW intermediate.int_employee_days AS
-- One row per employee (worker_type = 'Employee', contingent workers excluded) and calendar day
-- inside the employment, over [history_start, as_of] and the capacity_plan window (the 12 ISO weeks
-- from the first Monday after as_of). Per working day (Mon-Fri): standard = weekly hours / 5; a
-- holiday of the employee's country removes the day; approved time off removes its hours, at most
-- what is left of the day. Weekend days carry no capacity. Hours are exact decimals (the source's
-- doubles read to 6 places; a fifth of a week is exact), so sums never depend on their order.
-- Weekly hours and practice come from the employee's versions (SPEC 4b): "a utilization week takes
-- the version valid on its Monday (or on history_start for the first week)", so a change that takes
-- effect mid-week applies from the next week and a week has one standard day and one practice; the
-- capacity-plan window uses the current version.
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
    SELECT employee_id, country, hire_date, termination_date
    FROM canonical.dim_employee
    WHERE worker_type = 'Employee'
),
versions AS (
    SELECT employee_id, applies_from, valid_to, practice, is_current,
           CAST(CAST(coalesce(weekly_hours, 0.0) AS DECIMAL(18,6)) / CAST(5 AS DECIMAL(18,0)) AS DECIMAL(18,8)) AS std
    FROM intermediate.int_employee_versions
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
emp_days AS (
    SELECT
        e.employee_id,
        e.country,
        d.day,
        d.period,
        CAST(date_trunc('week', d.day) AS DATE) AS week_start,
        -- the date whose version gives the week's standard day and practice
        greatest(CAST(date_trunc('week', d.day) AS DATE), rc.history_start) AS practice_date
    FROM emp e
    CROSS JOIN rc
    JOIN days d
      ON (e.hire_date IS NULL OR d.day >= e.hire_date)
     AND (e.termination_date IS NULL OR d.day <= e.termination_date)
),
base AS (
    SELECT
        ed.employee_id,
        CASE WHEN ed.period = 'plan' THEN cv.practice ELSE pv.practice END AS practice,
        ed.day,
        ed.period,
        ed.week_start,
        extract(isodow FROM ed.day) <= 5 AS is_workday,
        h.holiday_date IS NOT NULL AS is_holiday,
        coalesce(CASE WHEN ed.period = 'plan' THEN cv.std ELSE pv.std END, CAST(0 AS DECIMAL(18,8))) AS std,
        coalesce(t.hours, CAST(0 AS DECIMAL(18,6))) AS time_off_requested
    FROM emp_days ed
    LEFT JOIN versions pv
           ON pv.employee_id = ed.employee_id
          AND (pv.applies_from IS NULL OR ed.practice_date >= pv.applies_from)
          AND (pv.valid_to IS NULL OR ed.practice_date < pv.valid_to)
    LEFT JOIN versions cv ON cv.employee_id = ed.employee_id AND cv.is_current
    LEFT JOIN holidays h ON h.country = ed.country AND h.holiday_date = ed.day
    LEFT JOIN time_off t ON t.employee_id = ed.employee_id AND t.time_off_date = ed.day
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
