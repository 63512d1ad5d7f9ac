-- DuckDB translation of sql/canonical/fct_time_entry.sql (materialized: table).
CREATE TABLE canonical.fct_time_entry AS
-- Conformed time entries: only those that pass every row rule (SPEC section 5) and are dated on or
-- before as_of (int_time_entries_checked leaves later ones out). Hours rounded half-up to 4 places.
SELECT
    time_entry_id,
    employee_id,
    project_id,
    work_date,
    CAST(CAST(CAST(minutes AS DECIMAL(38,10)) / CAST(60 AS DECIMAL(38,0)) AS DECIMAL(18,4)) AS DOUBLE) AS hours,
    billable,
    time_state,
    CAST(CAST(rate_in_cents AS DECIMAL(20,0)) / CAST(100 AS DECIMAL(20,0)) AS DECIMAL(18,2)) AS bill_rate,
    currency,
    CAST(bill_amount_usd_exact AS DECIMAL(18,2)) AS bill_amount_usd,
    CAST(cost_amount_usd_exact AS DECIMAL(18,2)) AS cost_amount_usd
FROM intermediate.int_time_entries_checked
WHERE rule IS NULL;
