-- DuckDB translation of sql/quality/rejects_kantata_stories.sql (materialized: rejects).
CREATE TABLE quality.rejects_kantata_stories AS
-- Kantata stories on a workspace Kantata does not know (SPEC section 5: "a story on an unknown
-- workspace"), rejected under `unknown_workspace` with the original JSON of the landing staging kept.
WITH rejected AS (
    SELECT s.story_id, s.workspace_id
    FROM staging.stg_kantata_stories s
    LEFT JOIN staging.stg_kantata_workspaces w ON w.workspace_id = s.workspace_id
    WHERE w.workspace_id IS NULL
),
raw_rows AS (
    SELECT r.id, r._raw,
           row_number() OVER (PARTITION BY r.id ORDER BY r._extracted_at DESC, r.updated_at DESC) AS rn
    FROM raw.kantata_stories r
    JOIN rejected x ON x.story_id = r.id
)
SELECT
    'kantata'            AS system,
    'stories'            AS stream,
    x.story_id           AS key,
    'unknown_workspace'  AS rule,
    'workspace_id'       AS field,
    x.workspace_id       AS value,
    CASE WHEN x.workspace_id IS NULL THEN concat('story ', x.story_id, ' has no workspace')
         ELSE concat('story ', x.story_id, ' is on workspace ', x.workspace_id, ' which is unknown') END AS message,
    r._raw
FROM rejected x
LEFT JOIN raw_rows r ON r.id = x.story_id AND r.rn = 1;
