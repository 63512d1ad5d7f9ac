-- DuckDB translation of sql/staging/stg_netsuite_customer.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_customer AS
-- NetSuite customers (the system of record for customers), latest landing per id; the currency
-- (an internal id) resolved to its ISO code through currency.symbol.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT c.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_customer c
),
cur AS (
    SELECT cr.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC) AS rn
    FROM raw.netsuite_currency cr
)
SELECT
    c.id                        AS customer_id,
    c.entityid                  AS customer_code,
    c.companyname               AS customer_name,
    c.custentity_sf_account_id  AS sf_account_id,
    cr.symbol                   AS currency
FROM ranked c
LEFT JOIN cur cr
       ON cr.id = c.currency AND cr.rn = 1 AND NOT coalesce(cr._deleted, false)
WHERE c.rn = 1 AND NOT coalesce(c._deleted, false);
