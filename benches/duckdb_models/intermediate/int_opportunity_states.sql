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
-- Each history row is the opportunity's (or the deal property's) state from its change until the
-- next change: a span [changed_at, next_at). The state at s is the span holding s's cutoff, found
-- by a join on the span (one row per snapshot and opportunity) rather than by ranking every row
-- before each cutoff (snapshots x history rows). Ties on the change time keep the order of the
-- ranking this replaces: the larger history Id wins for Salesforce; for HubSpot, a NULL value, else
-- the larger value (a DESC ordering puts NULLs first).
sf_spans AS (
    SELECT h.opportunity_id, h.opportunity_stage, h.amount, h.probability, h.close_date, h.changed_at,
           lead(h.changed_at) OVER (PARTITION BY h.opportunity_id
                                    ORDER BY h.changed_at, h.history_id) AS next_at
    FROM staging.stg_salesforce_opportunity_history h
),
sf AS (
    SELECT s.snapshot_date, s.snapshot_month, s.horizon, h.opportunity_id, h.opportunity_stage,
           h.amount, h.probability, h.close_date
    FROM snapshots s
    JOIN sf_spans h ON h.changed_at < s.cutoff AND (h.next_at IS NULL OR h.next_at >= s.cutoff)
),
hs_spans AS (
    SELECT h.deal_id, h.property, h.value, h.changed_at,
           lead(h.changed_at) OVER (PARTITION BY h.deal_id, h.property
                                    ORDER BY h.changed_at, h.value NULLS LAST) AS next_at
    FROM staging.stg_hubspot_deal_history h
),
hs AS (
    SELECT s.snapshot_date, s.snapshot_month, s.horizon, h.deal_id AS opportunity_id,
           max(CASE WHEN h.property = 'dealstage' THEN h.value END)                 AS dealstage,
           max(CASE WHEN h.property = 'amount' THEN h.value END)                    AS amount,
           max(CASE WHEN h.property = 'hs_deal_stage_probability' THEN h.value END) AS probability,
           max(CASE WHEN h.property = 'closedate' THEN h.value END)                 AS closedate
    FROM snapshots s
    JOIN hs_spans h ON h.changed_at < s.cutoff AND (h.next_at IS NULL OR h.next_at >= s.cutoff)
    GROUP BY s.snapshot_date, s.snapshot_month, s.horizon, h.deal_id
)
SELECT snapshot_date, snapshot_month, horizon, opportunity_id, 'salesforce' AS source_system,
       opportunity_stage, amount, probability, close_date
FROM sf
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
