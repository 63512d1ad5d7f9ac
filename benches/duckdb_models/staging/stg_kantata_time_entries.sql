-- DuckDB translation of sql/staging/stg_kantata_time_entries.sql (materialized: table).
CREATE TABLE staging.stg_kantata_time_entries AS
-- Kantata time entries, latest landing per id; time_state mapped through the seed. The original
-- JSON (_raw) is not carried (it is large); quality.rejects_time_entries reads it from raw.
-- A key whose latest row is a tombstone (_deleted: gone from the source) stays, with is_deleted
-- true, so that an incremental build that reads only the newly landed rows replaces the key's
-- earlier row with it; the models downstream leave such rows out.
WITH ranked AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_time_entries t
)
SELECT
    t.id                                   AS time_entry_id,
    t.workspace_id,
    t.user_id,
    t.date_performed                       AS work_date,
    t.time_in_minutes                      AS minutes,
    CAST(t.time_in_minutes AS DOUBLE) / 60.0 AS hours,
    coalesce(t.billable, false)            AS billable,
    t.approved,
    ts.time_state,
    t.rate_in_cents,
    t.currency,
    t.notes,
    coalesce(t._deleted, false)            AS is_deleted
FROM ranked t
LEFT JOIN seeds.time_state_map ts
       ON ts.system = 'kantata' AND ts.field = 'approved'
      AND ts.source_value = CAST(coalesce(t.approved, false) AS VARCHAR)
WHERE t.rn = 1;
