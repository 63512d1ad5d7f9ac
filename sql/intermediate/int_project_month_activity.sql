-- Exact money per project and month: revenue (int_revenue_monthly), labour cost of approved hours,
-- expenses and non-voided invoices by trandate, all in USD at the rate of the month. A row exists
-- for each project and month from history_start to as_of with any activity (hours, revenue, cost,
-- expense or invoice). Shared by canonical.revenue and canonical.margin. Lines on an unknown or
-- empty job and lines whose amount has no FX rate are rejects (quality.rejects_netsuite_lines), not
-- margin. A revenue figure that needs a missing FX rate stays NULL here (and so does the margin
-- computed from it), never 0. Hours stay in exact minutes until the published cell.
WITH rc AS (
    SELECT as_of, history_start, CAST(date_trunc('month', history_start) AS DATE) AS first_month
    FROM pslake.run_context
),
fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
),
labour AS (
    SELECT
        project_id,
        month,
        cost_usd_minutes AS labor_cost_usd_minutes,
        minutes          AS approved_minutes
    FROM intermediate.int_project_month_time
    WHERE in_period
),
expenses AS (
    SELECT project_id, month, sum(amount_usd_exact) AS expense_usd_exact
    FROM intermediate.int_netsuite_lines_checked
    WHERE stream = 'expense_line' AND rule IS NULL AND month IS NOT NULL  -- else rejected (quality.rejects_netsuite_lines)
    GROUP BY project_id, month
),
invoices AS (
    SELECT project_id, month, sum(amount_usd_exact) AS invoiced_usd_exact
    FROM intermediate.int_netsuite_lines_checked
    WHERE stream = 'invoice_line' AND converted AND rule IS NULL AND month IS NOT NULL  -- voided lines are no invoice
    GROUP BY project_id, month
),
revenue AS (
    SELECT project_id, month, revenue_local_exact, revenue_usd_exact, revenue_usd_num, revenue_den, billable_minutes
    FROM intermediate.int_revenue_monthly
    WHERE revenue_local_exact IS NULL OR revenue_local_exact <> 0 OR billable_minutes <> 0
),
keys AS (
    SELECT project_id, month FROM labour
    UNION SELECT project_id, month FROM expenses
    UNION SELECT project_id, month FROM invoices
    UNION SELECT project_id, month FROM revenue
)
SELECT
    k.project_id,
    k.month,
    p.billing_type,
    p.currency,
    -- no revenue row: 0; a revenue row whose figure needs a missing rate: NULL
    CASE WHEN r.project_id IS NULL THEN CAST(0 AS DECIMAL(38,16)) ELSE r.revenue_local_exact END AS revenue_local_exact,
    CASE WHEN r.project_id IS NULL THEN CAST(0 AS DECIMAL(38,16)) ELSE r.revenue_usd_exact END   AS revenue_usd_exact,
    -- labour: the sum of exact cost x minutes, divided by 60 once
    CAST(coalesce(l.labor_cost_usd_minutes, CAST(0 AS DECIMAL(38,10))) AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS labor_cost_usd_exact,
    -- gross margin = revenue - labour - expenses over the one denominator revenue_den x 60, divided
    -- once (quotients like x/60 or x/budget_minutes are not finite decimals; their truncations
    -- must not be subtracted from each other before the half-cent rounding)
    CAST(
        CAST(CASE WHEN r.project_id IS NULL THEN CAST(0 AS DECIMAL(38,14)) ELSE r.revenue_usd_num END AS DECIMAL(38,14)) * CAST(60 AS DECIMAL(38,0))
        - CAST(coalesce(l.labor_cost_usd_minutes, CAST(0 AS DECIMAL(38,10))) AS DECIMAL(38,10)) * CAST(coalesce(r.revenue_den, CAST(1 AS DECIMAL(38,4))) AS DECIMAL(38,4))
        - CAST(coalesce(e.expense_usd_exact, CAST(0 AS DECIMAL(38,10))) AS DECIMAL(38,10)) * CAST(coalesce(r.revenue_den, CAST(1 AS DECIMAL(38,4))) AS DECIMAL(38,4)) * CAST(60 AS DECIMAL(38,0))
        AS DECIMAL(38,14))
      / (CAST(coalesce(r.revenue_den, CAST(1 AS DECIMAL(38,4))) AS DECIMAL(38,4)) * CAST(60 AS DECIMAL(38,0))) AS gross_margin_usd_exact,
    coalesce(e.expense_usd_exact, CAST(0 AS DECIMAL(38,10)))   AS expense_usd_exact,
    coalesce(i.invoiced_usd_exact, CAST(0 AS DECIMAL(38,10)))  AS invoiced_usd_exact,
    coalesce(r.billable_minutes, 0)                            AS billable_minutes,
    coalesce(l.approved_minutes, 0)                            AS approved_minutes
FROM keys k
JOIN canonical.dim_project p ON p.project_id = k.project_id
CROSS JOIN rc
LEFT JOIN revenue  r ON r.project_id = k.project_id AND r.month = k.month
LEFT JOIN labour   l ON l.project_id = k.project_id AND l.month = k.month
LEFT JOIN expenses e ON e.project_id = k.project_id AND e.month = k.month
LEFT JOIN invoices i ON i.project_id = k.project_id AND i.month = k.month
WHERE k.month >= rc.first_month
