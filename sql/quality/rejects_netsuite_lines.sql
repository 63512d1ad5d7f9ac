-- NetSuite invoice and expense lines that fail a row rule (SPEC section 5), one reject row each under
-- the first rule it fails: `unknown_project` (the line's job is empty or not an ERP job), then
-- `no_fx_rate` (an amount converted to USD -- every expense line, invoice lines not voided -- in a
-- currency-month with no treasury rate). Lines dated after as_of are outside the window: neither
-- conformed nor rejected (SPEC exact rules). Margin leaves every rejected line out.
WITH rc AS (
    SELECT as_of FROM pslake.run_context
),
fx AS (
    SELECT currency, month FROM staging.stg_treasury_fx_rates
),
lines AS (
    SELECT 'invoice_line' AS stream, invoice_line_id AS id, invoice_date AS line_date, project_id, currency,
           coalesce(status, '') <> 'V' AS converted, _raw
    FROM staging.stg_netsuite_invoice_line
    UNION ALL
    SELECT 'expense_line' AS stream, expense_line_id AS id, expense_date AS line_date, project_id, currency,
           true AS converted, _raw
    FROM staging.stg_netsuite_expense_line
),
ruled AS (
    SELECT
        l.*,
        CASE
            WHEN j.project_id IS NULL THEN 'unknown_project'
            WHEN l.converted AND (l.currency IS NULL OR l.currency <> 'USD') AND fx.currency IS NULL THEN 'no_fx_rate'
        END AS rule
    FROM lines l
    CROSS JOIN rc
    LEFT JOIN staging.stg_netsuite_job j ON j.project_id = l.project_id
    LEFT JOIN fx ON fx.currency = l.currency AND fx.month = CAST(date_trunc('month', l.line_date) AS DATE)
    WHERE l.line_date IS NULL OR l.line_date <= rc.as_of
)
SELECT
    'netsuite'     AS system,
    stream,
    id             AS key,
    rule,
    CASE rule WHEN 'unknown_project' THEN 'job' ELSE 'currency' END AS field,
    CASE rule WHEN 'unknown_project' THEN project_id ELSE currency END AS value,
    CASE rule
        WHEN 'unknown_project' THEN
            CASE WHEN project_id IS NULL THEN concat(replace(stream, '_', ' '), ' ', id, ' has no job')
                 ELSE concat(replace(stream, '_', ' '), ' ', id, ' is on job ', project_id, ' which is not an ERP project') END
        ELSE concat('no FX rate for the currency ', coalesce(currency, 'NULL'), ' in ',
                    coalesce(substr(CAST(line_date AS VARCHAR), 1, 7), 'an unknown month'))
    END AS message,
    _raw
FROM ruled
WHERE rule IS NOT NULL
