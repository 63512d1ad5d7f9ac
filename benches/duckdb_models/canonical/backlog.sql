-- DuckDB translation of sql/canonical/backlog.sql (materialized: table).
CREATE TABLE canonical.backlog AS
-- Backlog per project at every snapshot (SPEC 4.7): each month end from history_start to before
-- as_of, then as_of. Contract (booking events on or before the snapshot) and revenue to date are
-- summed in the project currency and converted at the snapshot month's rate. A project has rows
-- from its first booking event or revenue on; bookings without an ERP project have none.
-- Booking events in another currency than the project's count at their booking month's rates
-- (intermediate.int_contract_events). A figure that needs a missing rate (the snapshot month's
-- project rate, or a contract event that could not be converted) is NULL, never 0.
WITH rc AS (
    SELECT as_of, history_start FROM pslake.run_context
),
month_ends AS (
    SELECT CAST(CAST(m AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) AS snapshot_date
    FROM (SELECT unnest(generate_series(CAST(date_trunc('month', history_start) AS DATE),
                                        CAST(date_trunc('month', as_of) AS DATE), INTERVAL '1 month')) AS m
          FROM rc) g
),
snapshots AS (
    SELECT me.snapshot_date FROM month_ends me CROSS JOIN rc
    WHERE me.snapshot_date >= rc.history_start AND me.snapshot_date < rc.as_of
    UNION
    SELECT as_of AS snapshot_date FROM rc
),
rev AS (
    SELECT project_id, month, revenue_local_exact, revenue_num, revenue_den
    FROM intermediate.int_revenue_monthly
    WHERE revenue_num IS NULL OR revenue_num <> 0
),
starts AS (
    SELECT project_id, min(d) AS first_date
    FROM (
        SELECT project_id, booking_date AS d FROM intermediate.int_contract_events
        UNION ALL
        SELECT project_id, month AS d FROM rev
    ) x
    GROUP BY project_id
),
grid AS (
    SELECT p.project_id, p.billing_type, p.currency, p.project_status, p.end_date, s.snapshot_date,
           CAST(date_trunc('month', s.snapshot_date) AS DATE) AS snapshot_month
    FROM canonical.dim_project p
    JOIN starts st ON st.project_id = p.project_id
    JOIN snapshots s ON s.snapshot_date >= st.first_date
),
contract AS (
    SELECT g.project_id, g.snapshot_date,
           CASE WHEN max(CASE WHEN b.booking_id IS NOT NULL AND b.amount_project IS NULL THEN 1 ELSE 0 END) = 1
                THEN CAST(NULL AS DECIMAL(38,12))
                ELSE coalesce(sum(b.amount_project), CAST(0 AS DECIMAL(38,12))) END AS contract_local
    FROM grid g
    LEFT JOIN intermediate.int_contract_events b ON b.project_id = g.project_id AND b.booking_date <= g.snapshot_date
    GROUP BY g.project_id, g.snapshot_date
),
-- revenue to date = sum of the months' exact numerators over the project's one denominator
-- (int_revenue_monthly.revenue_num / revenue_den), divided once: money exact until the cell
rtd AS (
    SELECT g.project_id, g.snapshot_date,
           CASE WHEN max(CASE WHEN r.project_id IS NOT NULL AND r.revenue_num IS NULL THEN 1 ELSE 0 END) = 1
                THEN CAST(NULL AS DECIMAL(38,6))
                ELSE coalesce(sum(r.revenue_num), CAST(0 AS DECIMAL(38,6))) END AS rtd_num,
           coalesce(max(r.revenue_den), CAST(1 AS DECIMAL(38,4))) AS rtd_den
    FROM grid g
    LEFT JOIN rev r ON r.project_id = g.project_id AND r.month <= g.snapshot_month
    GROUP BY g.project_id, g.snapshot_date
),
valued AS (
    SELECT
        g.project_id,
        g.snapshot_date,
        g.billing_type,
        (g.project_status IN ('completed', 'cancelled') AND g.end_date IS NOT NULL AND g.snapshot_date >= g.end_date) AS is_closed,
        CASE WHEN g.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END AS rate,
        CAST(c.contract_local AS DECIMAL(38,10)) * r.rtd_den AS contract_num,
        r.rtd_num,
        r.rtd_den
    FROM grid g
    JOIN contract c ON c.project_id = g.project_id AND c.snapshot_date = g.snapshot_date
    JOIN rtd r ON r.project_id = g.project_id AND r.snapshot_date = g.snapshot_date
    LEFT JOIN staging.stg_treasury_fx_rates fx ON fx.currency = g.currency AND fx.month = g.snapshot_month
)
SELECT
    project_id,
    snapshot_date,
    billing_type,
    -- every figure is (numerator x rate) / rtd_den with an exact numerator (held to 12 places, which
    -- is exact for same-currency contracts), divided once and rounded half-up in the cell;
    -- contract_num / rtd_den = contract_local
    CAST(CAST(contract_num * rate AS DECIMAL(38,12)) / rtd_den AS DECIMAL(18,2)) AS contract_usd,
    CAST(CAST(rtd_num * rate AS DECIMAL(38,12)) / rtd_den AS DECIMAL(18,2))      AS revenue_to_date_usd,
    CAST(CAST(CASE WHEN is_closed OR rtd_num >= contract_num THEN CAST(0 AS DECIMAL(38,14))
              ELSE contract_num - rtd_num END * rate AS DECIMAL(38,12)) / rtd_den AS DECIMAL(18,2)) AS backlog_usd,
    CAST(CAST(CASE WHEN rtd_num > contract_num THEN rtd_num - contract_num
              ELSE CAST(0 AS DECIMAL(38,14)) END * rate AS DECIMAL(38,12)) / rtd_den AS DECIMAL(18,2)) AS overrun_usd,
    CASE WHEN billing_type = 'time_and_materials' THEN 'estimated' ELSE 'contracted' END AS backlog_quality
FROM valued;
