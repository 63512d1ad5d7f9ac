-- DuckDB translation of sql/staging/stg_netsuite_invoice_line.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_invoice_line AS
-- NetSuite invoice lines, latest landing per id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT i.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_invoice_line i
)
SELECT
    id                               AS invoice_line_id,
    tranid                           AS invoice_number,
    trandate                         AS invoice_date,
    status,
    job                              AS project_id,
    CAST(foreignamount AS DECIMAL(18,2)) AS amount,
    currency,
    _raw
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
