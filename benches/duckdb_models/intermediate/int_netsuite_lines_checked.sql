-- DuckDB translation of sql/intermediate/int_netsuite_lines_checked.sql (materialized: table).
CREATE TABLE intermediate.int_netsuite_lines_checked AS
-- Every staged NetSuite invoice and expense line dated up to as_of, with its USD amount and the
-- FIRST row rule it fails (SPEC section 5), in this order: `unknown_project` (the line's job is
-- empty or not an ERP job), then `no_fx_rate`: an amount converted to USD (every expense line,
-- invoice lines not voided) in a currency-month with no treasury rate, or, for a line in another
-- currency than its project's, no rate for the project currency that month (it counts in the
-- project currency through USD). Lines dated after as_of are outside the window: neither conformed
-- nor rejected (SPEC exact rules). quality.rejects_netsuite_lines publishes the rejected ones;
-- margin reads the others. One place decides, so the two can never disagree.
WITH rc AS (
    SELECT as_of FROM pslake.run_context
),
fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
),
lines AS (
    SELECT 'invoice_line' AS stream, invoice_line_id AS id, invoice_date AS line_date, project_id, currency,
           amount, coalesce(status, '') <> 'V' AS converted, _raw
    FROM staging.stg_netsuite_invoice_line
    UNION ALL
    SELECT 'expense_line' AS stream, expense_line_id AS id, expense_date AS line_date, project_id, currency,
           amount, true AS converted, _raw
    FROM staging.stg_netsuite_expense_line
),
joined AS (
    SELECT
        l.*,
        CAST(date_trunc('month', l.line_date) AS DATE) AS month,
        j.project_id                                   AS known_project,
        j.currency                                     AS project_currency,
        CASE WHEN l.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END AS line_fx,
        CASE WHEN j.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE pfx.usd_per_unit END AS project_fx
    FROM lines l
    CROSS JOIN rc
    LEFT JOIN staging.stg_netsuite_job j ON j.project_id = l.project_id
    LEFT JOIN fx ON fx.currency = l.currency AND fx.month = CAST(date_trunc('month', l.line_date) AS DATE)
    LEFT JOIN fx pfx ON pfx.currency = j.currency AND pfx.month = CAST(date_trunc('month', l.line_date) AS DATE)
    WHERE l.line_date IS NULL OR l.line_date <= rc.as_of
)
SELECT
    stream,
    id,
    line_date,
    month,
    project_id,
    currency,
    project_currency,
    amount,
    converted,
    amount * line_fx AS amount_usd_exact,
    CASE
        WHEN known_project IS NULL THEN 'unknown_project'
        WHEN converted AND line_fx IS NULL THEN 'no_fx_rate'
        WHEN converted AND (currency IS DISTINCT FROM project_currency) AND project_fx IS NULL THEN 'no_fx_rate'
    END AS rule,
    -- the currency whose rate is missing (the line's own first, then its project's)
    CASE WHEN line_fx IS NULL THEN currency ELSE project_currency END AS fx_currency,
    _raw
FROM joined;
