-- DuckDB translation of sql/canonical/margin.sql (materialized: table).
CREATE TABLE canonical.margin AS
-- Gross margin per project and month (SPEC 4.10): revenue - labour cost of approved hours
-- (billable or not, at the employee's hourly cost) - expenses; invoices not voided, by trandate.
-- The margin is computed from the exact figures and rounded once; hours (all approved minutes)
-- rounded half-up to 4 decimals, the margin ratio to 6.
WITH m AS (
    SELECT
        project_id,
        month,
        revenue_usd_exact,
        labor_cost_usd_exact,
        expense_usd_exact,
        gross_margin_usd_exact AS gross_margin_exact,
        invoiced_usd_exact,
        approved_minutes
    FROM intermediate.int_project_month_activity
)
SELECT
    project_id,
    month,
    CAST(revenue_usd_exact AS DECIMAL(18,2))    AS revenue_usd,
    CAST(labor_cost_usd_exact AS DECIMAL(18,2)) AS labor_cost_usd,
    CAST(expense_usd_exact AS DECIMAL(18,2))    AS expense_usd,
    CAST(gross_margin_exact AS DECIMAL(18,2))   AS gross_margin_usd,
    -- a ratio of the exact figures, rounded half-up to 6 decimals (NULL when revenue is 0 or unknown)
    CASE WHEN revenue_usd_exact = 0 OR revenue_usd_exact IS NULL THEN CAST(NULL AS DOUBLE)
         ELSE CAST(CAST(CAST(gross_margin_exact AS DECIMAL(38,12)) / CAST(revenue_usd_exact AS DECIMAL(38,8)) AS DECIMAL(18,6)) AS DOUBLE) END AS gross_margin_pct,
    CAST(invoiced_usd_exact AS DECIMAL(18,2))   AS invoiced_usd,
    CAST(CAST(CAST(approved_minutes AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS DECIMAL(18,4)) AS DOUBLE) AS hours
FROM m;
