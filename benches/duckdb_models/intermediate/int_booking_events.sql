-- DuckDB translation of sql/intermediate/int_booking_events.sql (materialized: table).
-- Dialect: the model reads its own previously published version; DuckDB cannot read a table
-- while creating it, so that version is the table prior_run.int_booking_events (run.py loads it
-- from the lake, or creates it empty on a first build).
CREATE TABLE intermediate.int_booking_events AS
-- The booking event log: every event ever recorded, plus this run's new ones. Each run compares the current opportunity snapshot with
-- the events already recorded (this model's previously published version) and appends:
--   won            an opportunity first seen won (or won again after a debook): its amount, at its close date
--   amount_change  a booked opportunity still won whose amount differs from its booked total:
--                  the difference, dated the opportunity's last-modified date
--   debook         a booked opportunity now reopened, lost, deleted/archived or gone: minus its
--                  booked total, dated the last-modified date (gone: as_of)
--   a won opportunity whose currency changed: a debook in the old currency, then `won` in the new
-- event_seq numbers an opportunity's events, so booking_id = opportunity_id:seq is deterministic and
-- a rerun on the same data appends nothing.
WITH prior AS (
    SELECT
        opportunity_id,
        max(source_system) AS source_system,
        count(*)           AS n_events,
        sum(amount_local)  AS booked_total,
        max(event_seq)     AS last_seq
    FROM prior_run.int_booking_events
    GROUP BY opportunity_id
),
last_event AS (
    SELECT e.opportunity_id, e.event_type, e.booking_type, e.billing_type, e.practice, e.currency,
           e.account_ref, e.parent_opportunity_id
    FROM prior_run.int_booking_events e
    JOIN prior p ON p.opportunity_id = e.opportunity_id AND p.last_seq = e.event_seq
),
state AS (
    SELECT
        coalesce(o.opportunity_id, p.opportunity_id)             AS opportunity_id,
        coalesce(o.source_system, p.source_system)               AS source_system,
        (o.opportunity_id IS NOT NULL AND o.is_won AND NOT o.is_removed) AS is_won_now,
        (p.opportunity_id IS NOT NULL AND l.event_type <> 'debook')      AS is_booked,
        coalesce(p.booked_total, CAST(0 AS DECIMAL(18,2)))       AS booked_total,
        coalesce(p.last_seq, 0)                                  AS last_seq,
        coalesce(o.amount, CAST(0 AS DECIMAL(18,2)))             AS amount,
        o.close_date,
        o.modified_date,
        o.opportunity_id IS NULL                                 AS is_gone,
        coalesce(o.booking_type, l.booking_type)                 AS booking_type,
        coalesce(o.billing_type, l.billing_type)                 AS billing_type,
        coalesce(o.practice, l.practice)                         AS practice,
        coalesce(o.currency, l.currency)                         AS currency,
        l.currency                                               AS booked_currency,
        -- a won opportunity whose currency changed since it was booked is debooked in the old
        -- currency and booked `won` again in the new one (SPEC is silent; an amount_change across
        -- currencies would mix two currencies in one total)
        (p.opportunity_id IS NOT NULL AND l.event_type <> 'debook' AND o.opportunity_id IS NOT NULL
         AND o.is_won AND NOT o.is_removed AND (o.currency IS DISTINCT FROM l.currency)) AS currency_changed,
        coalesce(o.account_ref, l.account_ref)                   AS account_ref,
        coalesce(o.parent_opportunity_id, l.parent_opportunity_id) AS parent_opportunity_id
    FROM intermediate.int_opportunities o
    FULL OUTER JOIN prior p ON p.opportunity_id = o.opportunity_id
    LEFT JOIN last_event l ON l.opportunity_id = p.opportunity_id
),
new_events AS (
    SELECT s.*, 'won' AS event_type, s.close_date AS booking_date, s.amount AS amount_local,
           s.currency AS event_currency,
           CASE WHEN s.currency_changed THEN 2 ELSE 1 END AS seq_offset
    FROM state s
    WHERE s.is_won_now AND (NOT s.is_booked OR s.currency_changed)
    UNION ALL
    SELECT s.*, 'amount_change' AS event_type, s.modified_date AS booking_date,
           CAST(s.amount - s.booked_total AS DECIMAL(18,2)) AS amount_local,
           s.booked_currency AS event_currency, 1 AS seq_offset
    FROM state s
    WHERE s.is_won_now AND s.is_booked AND NOT s.currency_changed AND s.amount <> s.booked_total
    UNION ALL
    SELECT s.*, 'debook' AS event_type,
           CASE WHEN s.is_gone THEN rc.as_of ELSE s.modified_date END AS booking_date,
           CAST(-s.booked_total AS DECIMAL(18,2)) AS amount_local,
           s.booked_currency AS event_currency, 1 AS seq_offset
    FROM state s
    CROSS JOIN pslake.run_context rc
    WHERE s.is_booked AND (NOT s.is_won_now OR s.currency_changed)
)
SELECT
    booking_id, opportunity_id, source_system, event_seq, event_type, booking_date, booking_type,
    billing_type, practice, account_ref, parent_opportunity_id, amount_local, currency,
    recorded_run_id, recorded_as_of
FROM prior_run.int_booking_events
UNION ALL
SELECT
    concat(n.opportunity_id, ':', CAST(n.last_seq + n.seq_offset AS VARCHAR)) AS booking_id,
    n.opportunity_id,
    n.source_system,
    CAST(n.last_seq + n.seq_offset AS BIGINT) AS event_seq,
    n.event_type,
    n.booking_date,
    n.booking_type,
    n.billing_type,
    n.practice,
    n.account_ref,
    n.parent_opportunity_id,
    CAST(n.amount_local AS DECIMAL(18,2)) AS amount_local,
    n.event_currency AS currency,
    rc.run_id AS recorded_run_id,
    rc.as_of  AS recorded_as_of
FROM new_events n
CROSS JOIN pslake.run_context rc;
