-- DuckDB translation of sql/quality/warnings_stale_submitted_time.sql (materialized: warnings).
CREATE TABLE quality.warnings_stale_submitted_time AS
-- Warning: time submitted but not approved, with a work date more than 14 days before as_of.
SELECT
    'stale_submitted_time'     AS rule,
    'canonical.fct_time_entry' AS source,
    t.time_entry_id            AS key,
    concat('time entry ', t.time_entry_id, ' of ', t.employee_id, ' on ', CAST(t.work_date AS VARCHAR),
           ' is still submitted, not approved') AS message
FROM canonical.fct_time_entry t
CROSS JOIN pslake.run_context rc
WHERE t.time_state = 'submitted' AND rc.as_of - t.work_date > 14;
