-- DuckDB translation of sql/staging/stg_kantata_allocations.sql (materialized: view).
CREATE VIEW staging.stg_kantata_allocations AS
-- Kantata allocations: workspace_allocations (minutes over a date range on a workspace
-- resource) joined to workspace_resources (a person's seat on a workspace) for the workspace and
-- the user; each the latest landing per id. `hard` (false = tentative) is mapped to
-- allocation_state through the seed. A key whose latest row is a tombstone (_deleted: gone from
-- the source) is left out; an allocation whose resource is gone keeps its row, with no workspace
-- or user (it then staffs nobody).
WITH allocations AS (
    SELECT a.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_workspace_allocations a
),
resources AS (
    SELECT r.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_workspace_resources r
),
live_resources AS (
    SELECT id, workspace_id, user_id
    FROM resources
    WHERE rn = 1 AND NOT coalesce(_deleted, false)
)
SELECT
    a.id                 AS allocation_id,
    r.workspace_id,
    r.user_id,
    a.start_date,
    a.end_date,
    a.minutes,
    NOT coalesce(a.hard, true) AS soft,
    a.hard,
    a.workspace_resource_id,
    s.allocation_state
FROM allocations a
LEFT JOIN live_resources r
       ON r.id = a.workspace_resource_id
LEFT JOIN seeds.allocation_state_map s
       ON s.system = 'kantata' AND s.field = 'hard'
      AND s.source_value = CAST(coalesce(a.hard, true) AS VARCHAR)
WHERE a.rn = 1 AND NOT coalesce(a._deleted, false);
