-- DuckDB translation of sql/staging/stg_kantata_stories.sql (materialized: view).
CREATE VIEW staging.stg_kantata_stories AS
-- Kantata stories (tasks and milestones), latest landing per id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out, and so is a
-- story deleted in Kantata (`deleted_at` set; it lands because the pipeline asks `show_deleted`):
-- a deleted story is no revenue (SPEC section 2). Archived stories stay: archiving is no deletion.
WITH ranked AS (
    SELECT s.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_stories s
)
SELECT
    id                       AS story_id,
    workspace_id,
    title,
    story_type,
    state,
    due_date,
    accepted_at,
    accepted_date,
    billing_amount_in_cents,
    coalesce(archived, false) AS archived
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false) AND deleted_at IS NULL;
