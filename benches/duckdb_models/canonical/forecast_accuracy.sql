-- DuckDB translation of sql/canonical/forecast_accuracy.sql (materialized: table).
CREATE TABLE canonical.forecast_accuracy AS
-- Forecast accuracy per month-end snapshot and practice (SPEC 4b.14), plus one row per snapshot
-- with practice NULL for the whole firm. weighted_forecast_usd: the opportunities open at s as they
-- stood at s (intermediate.int_opportunity_states: not closed at s; not deleted or archived now,
-- since a record deleted in its source leaves every canonical table) whose close date as of s falls
-- in (s, horizon], amount x probability, converted at the rate of s's month. actual_won_usd: `won`
-- booking events dated in (s, horizon], at the same rate. accuracy = 1 - |forecast - actual| /
-- actual, NULL when actual is 0. Practice and currency are the opportunity's current ones (history
-- rows carry neither). A practice has a row at a snapshot when it has a forecast opportunity or a
-- won event in that window; an opportunity or event with no practice counts in the firm row only.
-- A sum that needs a missing rate is NULL, never 0 (and so is the accuracy computed from it).
WITH snapshots AS (
    SELECT snapshot_date, snapshot_month, horizon FROM intermediate.int_forecast_snapshots
),
fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
),
forecast AS (
    SELECT s.snapshot_date, o.practice,
           -- an opportunity missing its amount or probability adds nothing
           CASE WHEN s.amount IS NULL OR s.probability IS NULL THEN CAST(0 AS DECIMAL(38,16))
                ELSE CAST(CAST(s.amount AS DECIMAL(18,2)) * CAST(s.probability AS DECIMAL(12,6))
                          * CASE WHEN o.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END
                          AS DECIMAL(38,16)) END AS usd
    FROM intermediate.int_opportunity_states s
    JOIN intermediate.int_opportunities o
      ON o.opportunity_id = s.opportunity_id AND o.source_system = s.source_system
    LEFT JOIN fx ON fx.currency = o.currency AND fx.month = s.snapshot_month
    WHERE NOT o.is_removed
      AND (s.opportunity_stage IS NULL OR s.opportunity_stage NOT IN ('closed_won', 'closed_lost'))
      AND s.close_date > s.snapshot_date AND s.close_date <= s.horizon
),
actual AS (
    SELECT s.snapshot_date, b.practice,
           CAST(CAST(b.amount_local AS DECIMAL(18,2))
                * CASE WHEN b.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END
                AS DECIMAL(38,16)) AS usd
    FROM snapshots s
    JOIN canonical.bookings b
      ON b.event_type = 'won' AND b.booking_date > s.snapshot_date AND b.booking_date <= s.horizon
    LEFT JOIN fx ON fx.currency = b.currency AND fx.month = s.snapshot_month
),
parts AS (
    SELECT snapshot_date, practice, usd AS forecast_usd, CAST(0 AS DECIMAL(38,16)) AS actual_usd FROM forecast
    UNION ALL
    SELECT snapshot_date, practice, CAST(0 AS DECIMAL(38,16)) AS forecast_usd, usd AS actual_usd FROM actual
),
-- a NULL part (a missing rate) makes its sum NULL: sum() alone would skip it
by_practice AS (
    SELECT snapshot_date, practice,
           CASE WHEN max(CASE WHEN forecast_usd IS NULL THEN 1 ELSE 0 END) = 1 THEN CAST(NULL AS DECIMAL(38,16))
                ELSE sum(forecast_usd) END AS forecast_usd,
           CASE WHEN max(CASE WHEN actual_usd IS NULL THEN 1 ELSE 0 END) = 1 THEN CAST(NULL AS DECIMAL(38,16))
                ELSE sum(actual_usd) END AS actual_usd
    FROM parts
    WHERE practice IS NOT NULL
    GROUP BY snapshot_date, practice
),
firm AS (
    SELECT s.snapshot_date, CAST(NULL AS VARCHAR) AS practice,
           CASE WHEN max(CASE WHEN p.snapshot_date IS NOT NULL AND p.forecast_usd IS NULL THEN 1 ELSE 0 END) = 1 THEN CAST(NULL AS DECIMAL(38,16))
                ELSE coalesce(sum(p.forecast_usd), CAST(0 AS DECIMAL(38,16))) END AS forecast_usd,
           CASE WHEN max(CASE WHEN p.snapshot_date IS NOT NULL AND p.actual_usd IS NULL THEN 1 ELSE 0 END) = 1 THEN CAST(NULL AS DECIMAL(38,16))
                ELSE coalesce(sum(p.actual_usd), CAST(0 AS DECIMAL(38,16))) END AS actual_usd
    FROM snapshots s
    LEFT JOIN parts p ON p.snapshot_date = s.snapshot_date
    GROUP BY s.snapshot_date
),
rows AS (
    SELECT snapshot_date, practice, forecast_usd, actual_usd FROM by_practice
    UNION ALL
    SELECT snapshot_date, practice, forecast_usd, actual_usd FROM firm
)
SELECT
    snapshot_date,
    practice,
    CAST(forecast_usd AS DECIMAL(18,2)) AS weighted_forecast_usd,
    CAST(actual_usd AS DECIMAL(18,2))   AS actual_won_usd,
    CASE WHEN actual_usd IS NULL OR actual_usd = 0 OR forecast_usd IS NULL THEN CAST(NULL AS DOUBLE)
         ELSE CAST(CAST(CAST(1 AS DECIMAL(38,12))
                        - CAST(CAST(abs(forecast_usd - actual_usd) AS DECIMAL(38,12)) / CAST(actual_usd AS DECIMAL(38,8)) AS DECIMAL(38,12))
                        AS DECIMAL(18,6)) AS DOUBLE) END AS accuracy
FROM rows;
