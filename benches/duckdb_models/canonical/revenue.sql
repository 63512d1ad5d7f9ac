-- DuckDB translation of sql/canonical/revenue.sql (materialized: table).
CREATE TABLE canonical.revenue AS
-- Revenue per project and month (SPEC 4.6), rounded half-up to cents once, here; hours from the
-- exact minutes, rounded half-up to 4 decimals.
SELECT
    project_id,
    month,
    billing_type,
    CAST(revenue_local_exact AS DECIMAL(18,2)) AS revenue_local,
    currency,
    CAST(revenue_usd_exact AS DECIMAL(18,2))   AS revenue_usd,
    CAST(CAST(CAST(billable_minutes AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS DECIMAL(18,4)) AS DOUBLE) AS hours
FROM intermediate.int_project_month_activity;
