-- DuckDB translation of sql/quality/rejects_netsuite_lines.sql (materialized: rejects).
CREATE TABLE quality.rejects_netsuite_lines AS
-- NetSuite invoice and expense lines that fail a row rule (SPEC section 5), one reject row each under
-- the first rule it fails (intermediate.int_netsuite_lines_checked decides): `unknown_project`
-- (the line's job is empty or not an ERP job), then `no_fx_rate`. Margin leaves every rejected
-- line out.
SELECT
    'netsuite'     AS system,
    stream,
    id             AS key,
    rule,
    CASE rule WHEN 'unknown_project' THEN 'job' ELSE 'currency' END AS field,
    CASE rule WHEN 'unknown_project' THEN project_id ELSE fx_currency END AS value,
    CASE
        WHEN rule = 'unknown_project' THEN
            CASE WHEN project_id IS NULL THEN concat(replace(stream, '_', ' '), ' ', id, ' has no job')
                 ELSE concat(replace(stream, '_', ' '), ' ', id, ' is on job ', project_id, ' which is not an ERP project') END
        WHEN (fx_currency IS DISTINCT FROM currency) THEN
            concat('no FX rate for the project currency ', coalesce(fx_currency, 'NULL'),
                   ' (the line is in ', coalesce(currency, 'NULL'), ') in ',
                   coalesce(substr(CAST(line_date AS VARCHAR), 1, 7), 'an unknown month'))
        ELSE concat('no FX rate for the currency ', coalesce(currency, 'NULL'), ' in ',
                    coalesce(substr(CAST(line_date AS VARCHAR), 1, 7), 'an unknown month'))
    END AS message,
    _raw
FROM intermediate.int_netsuite_lines_checked
WHERE rule IS NOT NULL;
