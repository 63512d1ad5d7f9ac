-- DuckDB translation of sql/quality/rejects_time_entries.sql (materialized: rejects).
CREATE TABLE quality.rejects_time_entries AS
-- Time entries that fail a row rule: one reject row each, under the first rule it fails, with the
-- original JSON of the landing that staging kept (latest _extracted_at, then latest updated_at).
WITH rejected AS (
    SELECT * FROM intermediate.int_time_entries_checked WHERE rule IS NOT NULL
),
raw_rows AS (
    SELECT r.id, r._raw,
           row_number() OVER (PARTITION BY r.id ORDER BY r._extracted_at DESC, r.updated_at DESC) AS rn
    FROM raw.kantata_time_entries r
    JOIN rejected x ON x.time_entry_id = r.id
)
SELECT
    'kantata'        AS system,
    'time_entries'   AS stream,
    t.time_entry_id  AS key,
    t.rule,
    CASE t.rule
        WHEN 'unknown_project' THEN 'workspace_id'
        WHEN 'unknown_employee' THEN 'user_id'
        WHEN 'hours_out_of_range' THEN 'time_in_minutes'
        WHEN 'outside_employment' THEN 'date_performed'
        WHEN 'no_fx_rate' THEN CASE t.fx_missing_for WHEN 'cost' THEN 'cost_rate_currency' WHEN 'project' THEN 'workspace_id' ELSE 'currency' END
        WHEN 'over_24_hours_per_day' THEN 'time_in_minutes'
    END AS field,
    CASE t.rule
        WHEN 'unknown_project' THEN t.workspace_id
        WHEN 'unknown_employee' THEN t.user_id
        WHEN 'hours_out_of_range' THEN CAST(t.minutes AS VARCHAR)
        WHEN 'outside_employment' THEN CAST(t.work_date AS VARCHAR)
        WHEN 'no_fx_rate' THEN CASE t.fx_missing_for WHEN 'cost' THEN t.cost_currency WHEN 'project' THEN t.project_currency ELSE t.currency END
        WHEN 'over_24_hours_per_day' THEN CAST(t.minutes AS VARCHAR)
    END AS value,
    CASE t.rule
        WHEN 'unknown_project' THEN concat('time entry on workspace ', coalesce(t.workspace_id, 'NULL'), ' which is unknown or has no ERP project')
        WHEN 'unknown_employee' THEN concat('time entry by user ', coalesce(t.user_id, 'NULL'), ' who is unknown or has no HCM employee')
        WHEN 'hours_out_of_range' THEN concat('time_in_minutes ', coalesce(CAST(t.minutes AS VARCHAR), 'NULL'), ' is not in (0, 1440]')
        WHEN 'outside_employment' THEN concat('work date ', coalesce(CAST(t.work_date AS VARCHAR), 'NULL'), ' is outside the employment of ', t.employee_id)
        WHEN 'no_fx_rate' THEN concat('no FX rate for ',
            CASE t.fx_missing_for
                WHEN 'cost' THEN concat('the cost currency ', coalesce(t.cost_currency, 'NULL'))
                WHEN 'project' THEN concat('the project currency ', coalesce(t.project_currency, 'NULL'),
                                           ' (the entry is in ', coalesce(t.currency, 'NULL'), ')')
                ELSE concat('the currency ', coalesce(t.currency, 'NULL')) END,
            ' in ', substr(CAST(t.work_month AS VARCHAR), 1, 7))
        WHEN 'over_24_hours_per_day' THEN concat('employee ', t.employee_id, ' has more than 24 approved hours on ', CAST(t.work_date AS VARCHAR))
    END AS message,
    r._raw
FROM rejected t
LEFT JOIN raw_rows r ON r.id = t.time_entry_id AND r.rn = 1;
