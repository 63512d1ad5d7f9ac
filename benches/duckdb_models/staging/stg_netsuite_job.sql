-- DuckDB translation of sql/staging/stg_netsuite_job.sql (materialized: view).
CREATE VIEW staging.stg_netsuite_job AS
-- NetSuite projects (jobs), latest landing per id; status and billing type mapped through seeds,
-- the currency (an internal id) resolved to its ISO code through currency.symbol.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT j.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, lastmodifieddate DESC) AS rn
    FROM raw.netsuite_job j
),
cur AS (
    SELECT cr.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC) AS rn
    FROM raw.netsuite_currency cr
)
SELECT
    j.id                               AS project_id,
    j.entityid                         AS project_code,
    j.companyname                      AS project_name,
    j.parent                           AS customer_id,
    j.entitystatus                     AS status_value,
    ps.project_status,
    j.jobbillingtype                   AS billing_type_value,
    bt.billing_type,
    j.startdate                        AS start_date,
    j.projectedenddate                 AS end_date,
    cr.symbol                          AS currency,
    j.custentity_crm_opportunity_id    AS crm_opportunity_id,
    j.custentity_budget_hours          AS budget_hours,
    j.custentity_practice              AS practice,
    j.datecreated                      AS created_date
FROM ranked j
LEFT JOIN cur cr
       ON cr.id = j.currency AND cr.rn = 1 AND NOT coalesce(cr._deleted, false)
LEFT JOIN seeds.project_status_map ps
       ON ps.system = 'netsuite' AND ps.field = 'entitystatus' AND ps.source_value = j.entitystatus
LEFT JOIN seeds.billing_type_map bt
       ON bt.system = 'netsuite' AND bt.field = 'jobbillingtype' AND bt.source_value = j.jobbillingtype
WHERE j.rn = 1 AND NOT coalesce(j._deleted, false);
