-- DuckDB translation of sql/staging/stg_salesforce_opportunity.sql (materialized: view).
CREATE VIEW staging.stg_salesforce_opportunity AS
-- Salesforce opportunities, latest landing per Id, lifecycle values mapped through the seeds.
-- Won/lost come from IsWon/IsClosed, never from the StageName label.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
WITH ranked AS (
    SELECT o.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, system_modstamp DESC) AS rn
    FROM raw.salesforce_opportunity o
)
SELECT
    o.id                                   AS opportunity_id,
    'salesforce'                           AS source_system,
    o.account_id,
    o.name                                 AS opportunity_name,
    o.stage_name                           AS stage_label,
    CASE
        WHEN coalesce(o.is_won, false) THEN 'closed_won'
        WHEN coalesce(o.is_closed, false) THEN 'closed_lost'
        ELSE st.opportunity_stage
    END                                    AS opportunity_stage,
    st.opportunity_stage                   AS mapped_stage,
    CAST(o.amount AS DECIMAL(18,2))        AS amount,
    o.currency_iso_code                    AS currency,
    o.close_date,
    o.probability / 100.0                  AS probability,
    o.type                                 AS booking_type_label,
    bk.booking_type,
    coalesce(o.is_closed, false)           AS is_closed,
    coalesce(o.is_won, false)              AS is_won,
    coalesce(o.is_deleted, false)          AS is_removed,
    o.billing_type__c                      AS billing_type_label,
    bt.billing_type,
    o.practice__c                          AS practice,
    o.estimated_hours__c                   AS estimated_hours,
    o.start_date__c                        AS start_date,
    o.end_date__c                          AS end_date,
    o.parent_opportunity__c                AS parent_opportunity_id,
    o.system_modstamp                      AS modified_at,
    CAST(o.system_modstamp AS DATE)        AS modified_date
FROM ranked o
LEFT JOIN seeds.opportunity_stage_map st
       ON st.system = 'salesforce' AND st.field = 'StageName' AND st.source_value = o.stage_name
LEFT JOIN seeds.booking_type_map bk
       ON bk.system = 'salesforce' AND bk.field = 'Type' AND bk.source_value = o.type
LEFT JOIN seeds.billing_type_map bt
       ON bt.system = 'salesforce' AND bt.field = 'Billing_Type__c' AND bt.source_value = o.billing_type__c
WHERE o.rn = 1 AND NOT coalesce(o._deleted, false);
