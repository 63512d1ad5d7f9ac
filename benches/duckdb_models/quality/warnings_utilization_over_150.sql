-- DuckDB translation of sql/quality/warnings_utilization_over_150.sql (materialized: warnings).
CREATE TABLE quality.warnings_utilization_over_150 AS
-- Warning: an employee's weekly utilization (approved hours / capacity) over 150%.
SELECT
    'utilization_over_150_percent' AS rule,
    'canonical.utilization'        AS source,
    concat(employee_id, ':', CAST(week_start AS VARCHAR)) AS key,
    concat('employee ', employee_id, ' logged ', CAST(billable_hours + nonbillable_hours AS VARCHAR),
           ' approved hours against ', CAST(capacity_hours AS VARCHAR), ' hours of capacity in the week of ',
           CAST(week_start AS VARCHAR)) AS message
FROM canonical.utilization
WHERE productive_utilization > 1.5;
