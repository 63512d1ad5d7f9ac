-- Revenue per project and month (SPEC 4.6), rounded half-up to cents once, here.
SELECT
    project_id,
    month,
    billing_type,
    CAST(revenue_local_exact AS DECIMAL(18,2)) AS revenue_local,
    currency,
    CAST(revenue_usd_exact AS DECIMAL(18,2))   AS revenue_usd,
    billable_hours                             AS hours
FROM intermediate.int_project_month_activity
