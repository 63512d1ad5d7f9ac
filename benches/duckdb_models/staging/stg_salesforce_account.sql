-- DuckDB translation of sql/staging/stg_salesforce_account.sql (materialized: view).
CREATE VIEW staging.stg_salesforce_account AS
-- Salesforce accounts, latest landing per Id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT a.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, system_modstamp DESC) AS rn
    FROM raw.salesforce_account a
)
SELECT
    id                       AS account_id,
    name                     AS account_name,
    industry,
    billing_country          AS country,
    currency_iso_code        AS currency,
    coalesce(is_deleted, false) AS is_deleted,
    system_modstamp          AS modified_at
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
