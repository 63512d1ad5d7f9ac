-- Set-up cycle time per won new-business opportunity (SPEC 4b.12): from the win (its close date)
-- to the ERP project's creation (job datecreated), the first hard allocation on its workspace (the
-- earliest start_date of a hard allocation on any workspace linked to the project) and the first
-- approved time (the earliest conformed approved entry). Each step counts once reached, on or
-- before as_of (NULL until then); a step that came before the win gives a negative count, which is
-- reported, not hidden. Deleted or archived opportunities, and wins dated after as_of, have no row.
WITH rc AS (
    SELECT as_of FROM pslake.run_context
),
won AS (
    SELECT o.opportunity_id, o.practice, o.close_date AS won_date
    FROM intermediate.int_opportunities o
    CROSS JOIN rc
    WHERE o.is_won AND NOT o.is_removed AND o.booking_type = 'new_business'
      AND o.close_date IS NOT NULL AND o.close_date <= rc.as_of
),
projects AS (
    SELECT j.project_id, j.crm_opportunity_id, j.project_code,
           CASE WHEN j.created_date <= rc.as_of THEN j.created_date END AS created_date
    FROM staging.stg_netsuite_job j
    CROSS JOIN rc
    WHERE j.crm_opportunity_id IS NOT NULL
),
-- one project per opportunity: the lowest id when several jobs name it (dim_project's key rule
-- fails the build on duplicate project ids, not on two jobs naming one opportunity)
opp_project AS (
    SELECT crm_opportunity_id, min(project_id) AS project_id
    FROM projects
    GROUP BY crm_opportunity_id
),
first_hard AS (
    SELECT j.project_id, min(a.start_date) AS first_date
    FROM staging.stg_kantata_allocations a
    JOIN staging.stg_kantata_workspaces w ON w.workspace_id = a.workspace_id
    JOIN staging.stg_netsuite_job j ON j.project_code = w.project_code
    CROSS JOIN rc
    WHERE a.allocation_state = 'hard' AND a.start_date IS NOT NULL AND a.start_date <= rc.as_of
    GROUP BY j.project_id
),
first_time AS (
    SELECT project_id, min(first_date) AS first_date
    FROM intermediate.int_project_month_time
    GROUP BY project_id
),
joined AS (
    SELECT
        w.opportunity_id,
        op.project_id,
        w.practice,
        w.won_date,
        p.created_date AS project_created_date,
        fh.first_date  AS first_hard_allocation_date,
        ft.first_date  AS first_approved_time_date
    FROM won w
    LEFT JOIN opp_project op ON op.crm_opportunity_id = w.opportunity_id
    LEFT JOIN projects p     ON p.project_id = op.project_id
    LEFT JOIN first_hard fh  ON fh.project_id = op.project_id
    LEFT JOIN first_time ft  ON ft.project_id = op.project_id
)
SELECT
    opportunity_id,
    project_id,
    practice,
    won_date,
    project_created_date,
    first_hard_allocation_date,
    first_approved_time_date,
    -- calendar days from the win (date - date is a number of days)
    CAST(project_created_date - won_date AS BIGINT) AS days_to_project,
    CAST(first_hard_allocation_date - won_date AS BIGINT) AS days_to_staffed,
    CAST(first_approved_time_date - won_date AS BIGINT) AS days_to_first_time
FROM joined
