-- HubSpot propertiesWithHistory (dealstage, amount, closedate, hs_deal_stage_probability): one row
-- per deal, property and change time, the value as HubSpot writes it (a string). A deal's history
-- is re-sent whole whenever the deal is listed again: the latest landing per (deal, property,
-- timestamp) wins. Whether the deal itself is archived is decided by its current record
-- (staging.stg_hubspot_deals).
WITH ranked AS (
    SELECT h.*,
           row_number() OVER (PARTITION BY deal_id, property, "timestamp" ORDER BY _extracted_at DESC) AS rn
    FROM raw.hubspot_deal_history h
)
SELECT
    deal_id,
    property,
    value,
    "timestamp" AS changed_at
FROM ranked
WHERE rn = 1 AND NOT coalesce(_deleted, false) AND deal_id IS NOT NULL AND "timestamp" IS NOT NULL
