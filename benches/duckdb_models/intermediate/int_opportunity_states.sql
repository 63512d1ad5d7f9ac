-- DuckDB translation of sql/intermediate/int_opportunity_states.sql (materialized: table).
CREATE TABLE intermediate.int_opportunity_states AS
-- Every CRM opportunity as it stood at each forecast snapshot (SPEC 4b.14,
-- intermediate.int_forecast_snapshots). "As it stood at s" is the latest history row at or
-- before the end of day s (UTC): Salesforce, the latest OpportunityHistory row; HubSpot, each
-- property's latest value in propertiesWithHistory. An opportunity with no history at or before s
-- did not exist yet (for HubSpot: no dealstage value yet). Closed at s: a stage the seed maps to
-- closed_won or closed_lost (HubSpot closedwon / closedlost).
WITH snapshots AS (
    SELECT snapshot_date, snapshot_month, horizon, cutoff FROM intermediate.int_forecast_snapshots
),
sf AS (
    SELECT s.snapshot_date, s.snapshot_month, s.horizon, h.opportunity_id, h.opportunity_stage,
           h.amount, h.probability, h.close_date,
           row_number() OVER (PARTITION BY s.snapshot_date, h.opportunity_id
                              ORDER BY h.changed_at DESC, h.history_id DESC) AS rn
    FROM snapshots s
    JOIN staging.stg_salesforce_opportunity_history h ON h.changed_at < s.cutoff
),
hs_values AS (
    SELECT s.snapshot_date, s.snapshot_month, s.horizon, h.deal_id, h.property, h.value,
           row_number() OVER (PARTITION BY s.snapshot_date, h.deal_id, h.property
                              ORDER BY h.changed_at DESC, h.value DESC) AS rn
    FROM snapshots s
    JOIN staging.stg_hubspot_deal_history h ON h.changed_at < s.cutoff
),
hs AS (
    SELECT snapshot_date, snapshot_month, horizon, deal_id AS opportunity_id,
           max(CASE WHEN property = 'dealstage' THEN value END)                 AS dealstage,
           max(CASE WHEN property = 'amount' THEN value END)                    AS amount,
           max(CASE WHEN property = 'hs_deal_stage_probability' THEN value END) AS probability,
           max(CASE WHEN property = 'closedate' THEN value END)                 AS closedate
    FROM hs_values
    WHERE rn = 1
    GROUP BY snapshot_date, snapshot_month, horizon, deal_id
)
SELECT snapshot_date, snapshot_month, horizon, opportunity_id, 'salesforce' AS source_system,
       opportunity_stage, amount, probability, close_date
FROM sf
WHERE rn = 1
UNION ALL
SELECT h.snapshot_date, h.snapshot_month, h.horizon, h.opportunity_id, 'hubspot' AS source_system,
       st.opportunity_stage,
       CAST(CAST(nullif(h.amount, '') AS DECIMAL(18,2)) AS DECIMAL(18,2)) AS amount,
       CAST(CAST(nullif(h.probability, '') AS DECIMAL(12,6)) AS DECIMAL(12,6)) AS probability,
       -- a close date is the UTC date written at the start of the value
       CAST(substr(nullif(h.closedate, ''), 1, 10) AS DATE) AS close_date
FROM hs h
LEFT JOIN seeds.opportunity_stage_map st
       ON st.system = 'hubspot' AND st.field = 'dealstage' AND st.source_value = h.dealstage
WHERE h.dealstage IS NOT NULL;
