-- DuckDB translation of sql/intermediate/int_contract_events.sql (materialized: table).
CREATE TABLE intermediate.int_contract_events AS
-- Every booking event of an ERP project (canonical.bookings, as_of-bounded there) in the project's
-- currency: an event in another currency than its project's is converted through USD at the rates
-- of the booking month, amount x rate(event currency) / rate(project currency), exactly (to 12
-- places) and rounded only where a figure is published. `amount_project` is NULL when either rate
-- of that month is missing (SPEC exact rules: the contract is then unknown, never 0); it comes back
-- on the run after the rate arrives.
WITH fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
)
SELECT
    b.booking_id,
    b.project_id,
    b.booking_date,
    b.currency,
    p.currency AS project_currency,
    b.amount_local,
    CAST(CASE
        WHEN b.currency = p.currency THEN CAST(b.amount_local AS DECIMAL(38,12))
        ELSE CAST(CAST(b.amount_local AS DECIMAL(38,2))
                  * CASE WHEN b.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fb.usd_per_unit END AS DECIMAL(38,10))
             / CASE WHEN p.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fp.usd_per_unit END
    END AS DECIMAL(38,12)) AS amount_project
FROM canonical.bookings b
JOIN canonical.dim_project p ON p.project_id = b.project_id
LEFT JOIN fx fb ON fb.currency = b.currency AND fb.month = CAST(date_trunc('month', b.booking_date) AS DATE)
LEFT JOIN fx fp ON fp.currency = p.currency AND fp.month = CAST(date_trunc('month', b.booking_date) AS DATE);
