-- DuckDB translation of sql/intermediate/int_employee_weeks.sql (materialized: table).
CREATE TABLE intermediate.int_employee_weeks AS
-- Capacity per employee, practice and ISO week (the sums of int_employee_days), for the reported
-- period ('actual', read by utilization) and the capacity-plan window ('plan', read by
-- capacity_plan). A table, so that the daily view (an employee-day for every day of the history)
-- is computed once per build instead of once per reader, and a run whose only change is in the
-- time entries reuses it. Sums of exact decimals: the same values whichever order they are added.
SELECT employee_id, practice, period, week_start,
       sum(capacity_hours) AS capacity_hours,
       sum(holiday_hours)  AS holiday_hours,
       sum(time_off_hours) AS time_off_hours
FROM intermediate.int_employee_days
GROUP BY employee_id, practice, period, week_start;
