-- DuckDB translation of sql/staging/stg_kantata_workspaces.sql (materialized: view).
CREATE VIEW staging.stg_kantata_workspaces AS
-- Kantata workspaces, latest landing per id. `external_reference` is the ERP project code.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out. Archived
-- workspaces (closed projects) stay: their time and stories are real.
WITH ranked AS (
    SELECT w.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_workspaces w
)
SELECT
    id                   AS workspace_id,
    title,
    external_reference   AS project_code,
    status_key,
    status_message,
    currency,
    start_date,
    due_date,
    coalesce(archived, false) AS archived
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
