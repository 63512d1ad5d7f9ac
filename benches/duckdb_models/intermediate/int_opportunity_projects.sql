-- DuckDB translation of sql/intermediate/int_opportunity_projects.sql (materialized: view).
CREATE VIEW intermediate.int_opportunity_projects AS
-- The ERP project of every known opportunity: a new-business opportunity belongs to the project
-- whose custentity_crm_opportunity_id is its id; a change order or renewal to the project of its
-- parent, following the chain (current snapshot first, else what the event log recorded), and to
-- the project linked to the parent id when the parent is not in the CRM.
WITH RECURSIVE opps AS (
    SELECT opportunity_id, booking_type, parent_opportunity_id FROM intermediate.int_opportunities
    UNION ALL
    SELECT e.opportunity_id, e.booking_type, e.parent_opportunity_id
    FROM intermediate.int_booking_events e
    WHERE e.opportunity_id NOT IN (SELECT opportunity_id FROM intermediate.int_opportunities)
),
nodes AS (
    SELECT opportunity_id, max(booking_type) AS booking_type, max(parent_opportunity_id) AS parent_opportunity_id
    FROM opps
    GROUP BY opportunity_id
),
chain AS (
    SELECT opportunity_id, opportunity_id AS current_id, booking_type, parent_opportunity_id, 0 AS depth
    FROM nodes
    UNION ALL
    SELECT c.opportunity_id, n.opportunity_id, n.booking_type, n.parent_opportunity_id, c.depth + 1
    FROM chain c
    JOIN nodes n ON n.opportunity_id = c.parent_opportunity_id
    WHERE c.booking_type IN ('change_order', 'renewal') AND c.depth < 20
),
roots AS (
    -- the end of the chain: a new-business opportunity, or one with no known parent; a change
    -- order or renewal whose parent is no opportunity we know still belongs to the project linked
    -- to that parent id (SPEC is silent; the ERP link is the system of record for projects)
    SELECT opportunity_id,
           CASE WHEN booking_type IN ('change_order', 'renewal') AND parent_opportunity_id IS NOT NULL
                THEN parent_opportunity_id ELSE current_id END AS root_id,
           row_number() OVER (PARTITION BY opportunity_id ORDER BY depth DESC) AS rn
    FROM chain
),
jobs AS (
    SELECT crm_opportunity_id, min(project_id) AS project_id
    FROM staging.stg_netsuite_job
    WHERE crm_opportunity_id IS NOT NULL
    GROUP BY crm_opportunity_id
)
SELECT r.opportunity_id, r.root_id, j.project_id
FROM roots r
LEFT JOIN jobs j ON j.crm_opportunity_id = r.root_id
WHERE r.rn = 1;
