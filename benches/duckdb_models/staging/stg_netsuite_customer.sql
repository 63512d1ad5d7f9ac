-- DuckDB translation of sql/staging/stg_netsuite_customer.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_customer AS
-- NetSuite customers (the system of record for customers), latest landing per id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT c.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_customer c
)
SELECT
    id                        AS customer_id,
    entityid                  AS customer_code,
    companyname               AS customer_name,
    custentity_sf_account_id  AS sf_account_id,
    currency
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
