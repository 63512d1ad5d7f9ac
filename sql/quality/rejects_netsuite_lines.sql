-- NetSuite invoice and expense lines whose amount has no FX rate for its currency and month (SPEC
-- section 5): rejected here and left out of margin.
WITH fx AS (
    SELECT currency, month FROM staging.stg_treasury_fx_rates
),
lines AS (
    SELECT 'invoice_line' AS stream, invoice_line_id AS id, invoice_date AS line_date, currency, _raw
    FROM staging.stg_netsuite_invoice_line
    WHERE coalesce(status, '') <> 'V'
    UNION ALL
    SELECT 'expense_line' AS stream, expense_line_id AS id, expense_date AS line_date, currency, _raw
    FROM staging.stg_netsuite_expense_line
)
SELECT
    'netsuite'     AS system,
    l.stream,
    l.id           AS key,
    'no_fx_rate'   AS rule,
    'currency'     AS field,
    l.currency     AS value,
    concat('no FX rate for the currency ', coalesce(l.currency, 'NULL'), ' in ',
           coalesce(substr(CAST(l.line_date AS VARCHAR), 1, 7), 'an unknown month')) AS message,
    l._raw
FROM lines l
LEFT JOIN fx ON fx.currency = l.currency AND fx.month = CAST(date_trunc('month', l.line_date) AS DATE)
WHERE (l.currency IS NULL OR l.currency <> 'USD') AND fx.currency IS NULL
