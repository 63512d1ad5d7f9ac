-- DuckDB translation of sql/staging/stg_hubspot_deals.sql (materialized: view).
CREATE VIEW staging.stg_hubspot_deals AS
-- HubSpot deals, latest landing per id, lifecycle values mapped through the seeds.
-- Won comes from hs_is_closed_won; `closedlost` (mapped to closed_lost) is lost.
-- A key whose latest row is a tombstone (_deleted: gone from the source) is left out.
-- An archived deal's modified date is its archivedAt (else updatedAt): archiving leaves
-- hs_lastmodifieddate as it was.
WITH ranked AS (
    SELECT d.*,
           row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC, hs_lastmodifieddate DESC) AS rn
    FROM raw.hubspot_deals d
),
mapped AS (
    SELECT
        d.*,
        st.opportunity_stage AS mapped_stage,
        bk.booking_type      AS mapped_booking_type,
        bt.billing_type      AS mapped_billing_type,
        coalesce(d.hs_is_closed_won, false) AS won
    FROM ranked d
    LEFT JOIN seeds.opportunity_stage_map st
           ON st.system = 'hubspot' AND st.field = 'dealstage' AND st.source_value = d.dealstage
    LEFT JOIN seeds.booking_type_map bk
           ON bk.system = 'hubspot' AND bk.field = 'dealtype' AND bk.source_value = d.dealtype
    LEFT JOIN seeds.billing_type_map bt
           ON bt.system = 'hubspot' AND bt.field = 'billing_type' AND bt.source_value = d.billing_type
    WHERE d.rn = 1 AND NOT coalesce(d._deleted, false)
)
SELECT
    id                                     AS opportunity_id,
    'hubspot'                              AS source_system,
    netsuite_customer_id,
    dealname                               AS opportunity_name,
    dealstage                              AS stage_label,
    CASE
        WHEN won THEN 'closed_won'
        WHEN mapped_stage IN ('closed_won', 'closed_lost') THEN 'closed_lost'
        ELSE mapped_stage
    END                                    AS opportunity_stage,
    mapped_stage,
    CAST(amount AS DECIMAL(18,2))          AS amount,
    deal_currency_code                     AS currency,
    closedate                              AS close_date,
    hs_deal_stage_probability              AS probability,
    dealtype                               AS booking_type_label,
    mapped_booking_type                    AS booking_type,
    (won OR mapped_stage IN ('closed_won', 'closed_lost')) AS is_closed,
    won                                    AS is_won,
    coalesce(archived, false)              AS is_removed,
    billing_type                           AS billing_type_label,
    mapped_billing_type                    AS billing_type,
    practice,
    estimated_hours,
    start_date,
    end_date,
    parent_deal_id                         AS parent_opportunity_id,
    -- archiving does not change hs_lastmodifieddate: an archived deal changed when archived
    CASE
        WHEN coalesce(archived, false) THEN coalesce(archived_at, updated_at, hs_lastmodifieddate)
        ELSE coalesce(hs_lastmodifieddate, updated_at)
    END                                    AS modified_at,
    CAST(CASE
        WHEN coalesce(archived, false) THEN coalesce(archived_at, updated_at, hs_lastmodifieddate)
        ELSE coalesce(hs_lastmodifieddate, updated_at)
    END AS DATE)                           AS modified_date
FROM mapped;
