-- Every status and planned end date a project has had, one row per version: a snapshot of
-- canonical.dim_project (models/history.yml), compared with its current versions at each build.
SELECT
    project_id,
    project_code,
    project_status,
    end_date
FROM canonical.dim_project
