-- DuckDB translation of sql/staging/stg_salesforce_opportunity_history.sql (materialized: view).
CREATE VIEW staging.stg_salesforce_opportunity_history AS
-- Salesforce OpportunityHistory: one row per change of an opportunity's stage, amount, probability
-- or close date, latest landing per Id; the row's time is its CreatedDate. The stage label is
-- mapped through the opportunity-stage seed (history rows carry no IsClosed/IsWon: a closed stage
-- is one the seed maps to closed_won or closed_lost). Deleted history rows (IsDeleted, or a
-- tombstone) are left out; whether the opportunity itself is deleted is decided by its current
-- record (staging.stg_salesforce_opportunity).
WITH ranked AS (
    SELECT h.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, system_modstamp DESC) AS rn
    FROM raw.salesforce_opportunityhistory h
)
SELECT
    h.id                                   AS history_id,
    h.opportunity_id,
    h.created_date                         AS changed_at,
    h.stage_name                           AS stage_label,
    st.opportunity_stage,
    CAST(h.amount AS DECIMAL(18,2))        AS amount,
    -- Salesforce probability is a percentage (0-100); exact to 4 places
    CAST(CAST(h.probability AS DECIMAL(12,4)) / CAST(100 AS DECIMAL(12,0)) AS DECIMAL(12,6)) AS probability,
    h.close_date
FROM ranked h
LEFT JOIN seeds.opportunity_stage_map st
       ON st.system = 'salesforce' AND st.field = 'StageName' AND st.source_value = h.stage_name
WHERE h.rn = 1 AND NOT coalesce(h._deleted, false) AND NOT coalesce(h.is_deleted, false)
  AND h.opportunity_id IS NOT NULL AND h.created_date IS NOT NULL;
