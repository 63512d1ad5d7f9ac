-- DuckDB translation of sql/quality/warnings_after_as_of.sql (materialized: warnings).
CREATE TABLE quality.warnings_after_as_of AS
-- Warning: source records dated after as_of wait outside the window (SPEC exact rules: in no
-- historical series and not rejected); one warning per stream with how many there are, so the run
-- summary accounts for every landed record.
WITH rc AS (SELECT as_of FROM pslake.run_context),
later AS (
    SELECT 'kantata.time_entries' AS stream, count(*) AS n
    FROM staging.stg_kantata_time_entries t CROSS JOIN rc WHERE NOT t.is_deleted AND t.work_date > rc.as_of
    UNION ALL
    SELECT 'netsuite.invoice_line', count(*)
    FROM staging.stg_netsuite_invoice_line i CROSS JOIN rc WHERE i.invoice_date > rc.as_of
    UNION ALL
    SELECT 'netsuite.expense_line', count(*)
    FROM staging.stg_netsuite_expense_line e CROSS JOIN rc WHERE e.expense_date > rc.as_of
    UNION ALL
    SELECT 'kantata.stories', count(*)
    FROM staging.stg_kantata_stories s CROSS JOIN rc
    WHERE s.story_type = 'milestone' AND s.state = 'accepted' AND s.accepted_date > rc.as_of
    UNION ALL
    SELECT 'bookings', count(*)
    FROM intermediate.int_booking_events b CROSS JOIN rc WHERE b.booking_date > rc.as_of
)
SELECT
    'dated_after_as_of' AS rule,
    stream              AS source,
    stream              AS key,
    concat(CAST(n AS VARCHAR), ' ', stream, ' record(s) dated after as_of ', CAST(rc.as_of AS VARCHAR),
           ' wait outside the window (not published, not rejected)') AS message
FROM later CROSS JOIN rc
WHERE n > 0;
