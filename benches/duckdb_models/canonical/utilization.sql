-- DuckDB translation of sql/canonical/utilization.sql (materialized: table).
CREATE TABLE canonical.utilization AS
-- Weekly utilization per employee (SPEC 4.8): the ISO weeks overlapping both [history_start, as_of]
-- and the employment; capacity counts only days inside [history_start, as_of]. Hours are approved
-- time (weekends and holidays included); ratios of sums, NULL when capacity is 0.
WITH rc AS (
    SELECT history_start, as_of FROM pslake.run_context
),
cap AS (
    SELECT employee_id, practice, week_start, capacity_hours, holiday_hours, time_off_hours
    FROM intermediate.int_employee_weeks
    WHERE period = 'actual'
),
hrs AS (
    SELECT t.employee_id,
           CAST(date_trunc('week', t.work_date) AS DATE) AS week_start,
           sum(CASE WHEN t.billable THEN t.minutes ELSE 0 END) AS billable_minutes,
           sum(CASE WHEN t.billable THEN 0 ELSE t.minutes END) AS nonbillable_minutes
    FROM intermediate.int_time_entries_checked t CROSS JOIN rc
    WHERE t.rule IS NULL AND t.approved AND t.work_date BETWEEN rc.history_start AND rc.as_of
    GROUP BY t.employee_id, CAST(date_trunc('week', t.work_date) AS DATE)
),
joined AS (
    SELECT c.employee_id, c.week_start, c.practice, c.capacity_hours, c.holiday_hours, c.time_off_hours,
           coalesce(h.billable_minutes, 0)    AS billable_minutes,
           coalesce(h.nonbillable_minutes, 0) AS nonbillable_minutes
    FROM cap c
    LEFT JOIN hrs h ON h.employee_id = c.employee_id AND h.week_start = c.week_start
)
-- hours rounded half-up to 4 decimals and ratios to 6, each from the exact sums (minutes / 60 over
-- exact decimal capacity), then published as DOUBLE
SELECT
    employee_id,
    week_start,
    practice,
    CAST(CAST(capacity_hours AS DECIMAL(18,4)) AS DOUBLE) AS capacity_hours,
    CAST(CAST(holiday_hours AS DECIMAL(18,4)) AS DOUBLE)  AS holiday_hours,
    CAST(CAST(time_off_hours AS DECIMAL(18,4)) AS DOUBLE) AS time_off_hours,
    CAST(CAST(CAST(billable_minutes AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS DECIMAL(18,4)) AS DOUBLE)    AS billable_hours,
    CAST(CAST(CAST(nonbillable_minutes AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS DECIMAL(18,4)) AS DOUBLE) AS nonbillable_hours,
    CASE WHEN capacity_hours = 0 THEN CAST(NULL AS DOUBLE)
         ELSE CAST(CAST(CAST(billable_minutes AS DECIMAL(38,12)) / (CAST(capacity_hours AS DECIMAL(38,8)) * CAST(60 AS DECIMAL(38,0))) AS DECIMAL(18,6)) AS DOUBLE) END AS billable_utilization,
    CASE WHEN capacity_hours = 0 THEN CAST(NULL AS DOUBLE)
         ELSE CAST(CAST(CAST(billable_minutes + nonbillable_minutes AS DECIMAL(38,12)) / (CAST(capacity_hours AS DECIMAL(38,8)) * CAST(60 AS DECIMAL(38,0))) AS DECIMAL(18,6)) AS DOUBLE) END AS productive_utilization
FROM joined;
