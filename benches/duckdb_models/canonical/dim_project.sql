-- DuckDB translation of sql/canonical/dim_project.sql (materialized: table).
CREATE TABLE canonical.dim_project AS
-- Projects are the ERP's, linked to the PSA workspace by its external_reference (project code).
WITH ws AS (
    SELECT project_code, min(workspace_id) AS workspace_id
    FROM staging.stg_kantata_workspaces
    WHERE project_code IS NOT NULL
    GROUP BY project_code
)
SELECT
    j.project_id,
    j.project_code,
    j.project_name,
    j.customer_id,
    j.crm_opportunity_id,
    ws.workspace_id AS psa_workspace_id,
    j.billing_type,
    j.project_status,
    j.practice,
    j.start_date,
    j.end_date,
    j.currency,
    j.budget_hours
FROM staging.stg_netsuite_job j
LEFT JOIN ws ON ws.project_code = j.project_code;
