-- DuckDB translation of sql/staging/stg_kantata_stories.sql (materialized: view).
CREATE VIEW staging.stg_kantata_stories AS
-- Kantata stories (tasks and milestones), latest landing per id.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
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
    billing_amount_in_cents
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
