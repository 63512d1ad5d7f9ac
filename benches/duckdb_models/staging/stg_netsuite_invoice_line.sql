-- DuckDB translation of sql/staging/stg_netsuite_invoice_line.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_invoice_line AS
-- NetSuite invoice lines: the lines of invoices (transaction type CustInvc) that are neither the
-- mainline (the receivable) nor a taxline, each the latest landing per uniquekey, with its
-- header's latest landing. A key whose latest row is a tombstone (_deleted: gone from the source)
-- is left out, and so is a line whose header has not landed. NetSuite writes an income line's
-- foreignamount negative: the invoiced amount is its negation. The job is the line's entity, else
-- the header's; the currency is the header's, an internal id resolved to its ISO code through
-- currency.symbol.
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
    l.uniquekey                                                AS invoice_line_id,
    t.tranid                                                   AS invoice_number,
    t.trandate                                                 AS invoice_date,
    t.status,
    coalesce(nullif(l.entity, ''), nullif(t.entity, ''))       AS project_id,
    CAST(-l.foreignamount AS DECIMAL(18,2))                    AS amount,
    c.symbol                                                   AS currency,
    l._raw
FROM line l
JOIN tran t
  ON t.id = l.transaction AND t.rn = 1 AND NOT coalesce(t._deleted, false)
LEFT JOIN cur c
  ON c.id = t.currency AND c.rn = 1 AND NOT coalesce(c._deleted, false)
WHERE l.rn = 1 AND NOT coalesce(l._deleted, false)
  AND t.type = 'CustInvc'
  AND NOT coalesce(l.mainline, false)
  AND NOT coalesce(l.taxline, false);
