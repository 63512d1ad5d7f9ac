-- DuckDB translation of sql/staging/stg_netsuite_expense_line.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_expense_line AS
-- NetSuite expense lines, latest landing per id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT e.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_expense_line e
)
SELECT
    id                               AS expense_line_id,
    trandate                         AS expense_date,
    job                              AS project_id,
    category,
    CAST(foreignamount AS DECIMAL(18,2)) AS amount,
    currency,
    _raw
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
