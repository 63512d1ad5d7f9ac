-- DuckDB translation of sql/canonical/bookings.sql (materialized: table).
CREATE TABLE canonical.bookings AS
-- One row per booking event (the event log), with project and customer resolved on every run so
-- project_id stays NULL only until the ERP project exists. USD at the rate of the booking month;
-- with no rate for that month amount_usd is NULL (never a reject: quality.warnings_missing_fx_rate
-- counts it) and is filled in by the first run after the rate arrives. Events dated after as_of
-- wait in the event log outside the window.
WITH customers AS (
    -- Salesforce: the ERP customer linked to the account; HubSpot: the deal's netsuite_customer_id
    SELECT 'salesforce' AS source_system, sf_account_id AS account_ref, min(customer_id) AS customer_id
    FROM staging.stg_netsuite_customer
    WHERE sf_account_id IS NOT NULL
    GROUP BY sf_account_id
    UNION ALL
    SELECT 'hubspot' AS source_system, customer_id AS account_ref, customer_id
    FROM staging.stg_netsuite_customer
)
SELECT
    e.booking_id,
    e.opportunity_id,
    e.source_system,
    e.event_type,
    e.booking_date,
    e.booking_type,
    c.customer_id,
    p.project_id,
    e.billing_type,
    e.practice,
    e.amount_local,
    e.currency,
    CAST(e.amount_local * CASE WHEN e.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END
         AS DECIMAL(18,2)) AS amount_usd
FROM intermediate.int_booking_events e
LEFT JOIN customers c ON c.source_system = e.source_system AND c.account_ref = e.account_ref
LEFT JOIN intermediate.int_opportunity_projects p ON p.opportunity_id = e.opportunity_id
LEFT JOIN staging.stg_treasury_fx_rates fx
       ON fx.currency = e.currency AND fx.month = CAST(date_trunc('month', e.booking_date) AS DATE)
CROSS JOIN pslake.run_context rc
WHERE e.booking_date <= rc.as_of;
