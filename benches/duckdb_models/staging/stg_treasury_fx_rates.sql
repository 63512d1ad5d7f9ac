-- DuckDB translation of sql/staging/stg_treasury_fx_rates.sql (materialized: view).
-- Dialect: DataFusion's to_date(text) is CAST(text AS DATE) in DuckDB.
CREATE VIEW staging.stg_treasury_fx_rates AS
-- Treasury FX rates: one row per currency and month (latest landing wins); `month` as a DATE.
WITH ranked AS (
    SELECT f.*,
           row_number() OVER (PARTITION BY currency, month ORDER BY _extracted_at DESC, _file DESC) AS rn
    FROM raw.treasury_fx_rates f
)
SELECT
    currency,
    CAST(month || '-01' AS DATE)         AS month,
    CAST(usd_per_unit AS DECIMAL(18,8))  AS usd_per_unit
FROM ranked
WHERE rn = 1;
