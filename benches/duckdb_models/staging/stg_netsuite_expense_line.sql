-- DuckDB translation of sql/staging/stg_netsuite_expense_line.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_expense_line AS
-- NetSuite expense lines: the lines of expense reports (transaction type ExpRept) that are neither
-- the mainline (the payable) nor a taxline, each the latest landing per uniquekey, with its
-- header's latest landing. A key whose latest row is a tombstone (_deleted: gone from the source)
-- is left out, and so is a line whose header has not landed. An expense line's foreignamount is
-- positive as NetSuite writes it. The job is the line's entity (an expense report's header entity
-- is the employee, never a job); the category is the line's memo; the currency is the header's,
-- an internal id resolved to its ISO code through currency.symbol.
WITH line AS (
    SELECT l.*,
           row_number() OVER (PARTITION BY uniquekey ORDER BY _extracted_at DESC, linelastmodifieddate DESC) AS rn
    FROM raw.netsuite_transactionline l
),
tran AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_transaction t
),
cur AS (
    SELECT c.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC) AS rn
    FROM raw.netsuite_currency c
)
SELECT
    l.uniquekey                              AS expense_line_id,
    t.trandate                               AS expense_date,
    nullif(l.entity, '')                     AS project_id,
    l.memo                                   AS category,
    CAST(l.foreignamount AS DECIMAL(18,2))   AS amount,
    c.symbol                                 AS currency,
    l._raw
FROM line l
JOIN tran t
  ON t.id = l.transaction AND t.rn = 1 AND NOT coalesce(t._deleted, false)
LEFT JOIN cur c
  ON c.id = t.currency AND c.rn = 1 AND NOT coalesce(c._deleted, false)
WHERE l.rn = 1 AND NOT coalesce(l._deleted, false)
  AND t.type = 'ExpRept'
  AND NOT coalesce(l.mainline, false)
  AND NOT coalesce(l.taxline, false);
