-- DuckDB translation of sql/quality/warnings_won_booking_without_project.sql (materialized: warnings).
CREATE TABLE quality.warnings_won_booking_without_project AS
-- Warning: a won booking whose opportunity still has no ERP project more than 30 days after it was
-- won (opportunities debooked since are left out).
WITH rc AS (SELECT as_of FROM pslake.run_context),
booked AS (
    SELECT
        opportunity_id,
        max(CASE WHEN event_type = 'won' THEN booking_date END) AS won_date,
        sum(CASE WHEN event_type = 'won' THEN 1 WHEN event_type = 'debook' THEN -1 ELSE 0 END) AS open_wins,
        max(CASE WHEN project_id IS NULL THEN 0 ELSE 1 END) AS has_project
    FROM canonical.bookings
    GROUP BY opportunity_id
)
SELECT
    'won_booking_without_project' AS rule,
    'canonical.bookings'          AS source,
    b.opportunity_id              AS key,
    concat('opportunity ', b.opportunity_id, ' was won on ', CAST(b.won_date AS VARCHAR),
           ' and has no ERP project after ', CAST(rc.as_of - b.won_date AS VARCHAR), ' days') AS message
FROM booked b
CROSS JOIN rc
WHERE b.has_project = 0 AND b.open_wins > 0 AND rc.as_of - b.won_date > 30;
