-- Gross margin per project and month (SPEC 4.10): revenue - labour cost of approved hours
-- (billable or not, at the employee's hourly cost) - expenses; invoices not voided, by trandate.
-- The margin is computed from the exact figures and rounded once.
WITH m AS (
    SELECT
        project_id,
        month,
        revenue_usd_exact,
        labor_cost_usd_exact,
        expense_usd_exact,
        gross_margin_usd_exact AS gross_margin_exact,
        invoiced_usd_exact,
        approved_hours
    FROM intermediate.int_project_month_activity
)
SELECT
    project_id,
    month,
    CAST(revenue_usd_exact AS DECIMAL(18,2))    AS revenue_usd,
    CAST(labor_cost_usd_exact AS DECIMAL(18,2)) AS labor_cost_usd,
    CAST(expense_usd_exact AS DECIMAL(18,2))    AS expense_usd,
    CAST(gross_margin_exact AS DECIMAL(18,2))   AS gross_margin_usd,
    CASE WHEN revenue_usd_exact = 0 THEN CAST(NULL AS DOUBLE)
         ELSE CAST(gross_margin_exact AS DOUBLE) / CAST(revenue_usd_exact AS DOUBLE) END AS gross_margin_pct,
    CAST(invoiced_usd_exact AS DECIMAL(18,2))   AS invoiced_usd,
    approved_hours                              AS hours
FROM m
