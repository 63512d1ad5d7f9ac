-- DuckDB translation of sql/staging/stg_kantata_allocations.sql (materialized: view).
CREATE VIEW staging.stg_kantata_allocations AS
-- Kantata allocations, latest landing per id; allocation_state mapped through the seed.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT a.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_allocations a
)
SELECT
    a.id                 AS allocation_id,
    a.workspace_id,
    a.user_id,
    a.start_date,
    a.end_date,
    a.minutes,
    a.soft,
    s.allocation_state
FROM ranked a
LEFT JOIN seeds.allocation_state_map s
       ON s.system = 'kantata' AND s.field = 'soft'
      AND s.source_value = CAST(coalesce(a.soft, false) AS VARCHAR)
WHERE a.rn = 1 AND NOT coalesce(a._deleted, false);
