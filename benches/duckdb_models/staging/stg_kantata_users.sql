-- DuckDB translation of sql/staging/stg_kantata_users.sql (materialized: view).
CREATE VIEW staging.stg_kantata_users AS
-- Kantata users, latest landing per id. `external_reference` is the Workday Employee_ID.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT u.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, updated_at DESC) AS rn
    FROM raw.kantata_users u
)
SELECT
    id                   AS user_id,
    full_name,
    email_address        AS email,
    external_reference   AS employee_id
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false);
