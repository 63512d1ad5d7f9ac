-- Capacity plan per practice for the 12 ISO weeks starting the first Monday after as_of (SPEC 4.9).
-- Capacity: employees only, utilization rule (future approved time off and holidays reduce it).
-- Allocations (hard/soft) and pipeline (open opportunities: estimated hours x probability) are
-- spread evenly over the Mon-Fri days of their range (holidays not removed); only the part of the
-- spread inside the window counts. Hours are exact decimals (a day's share to 12 places) summed in any
-- order to the same value, published rounded half-up to 4 decimals.
WITH rc AS (
    SELECT CAST(date_trunc('week', as_of) AS DATE) + 7 AS plan_start,
           CAST(date_trunc('week', as_of) AS DATE) + 90 AS plan_end
    FROM pslake.run_context
),
weeks AS (
    SELECT CAST(w AS DATE) AS week_start
    FROM (SELECT unnest(generate_series(plan_start, plan_start + 77, INTERVAL '7 days')) AS w FROM rc) g
),
cap AS (
    SELECT practice, week_start, sum(capacity_hours) AS capacity_hours
    FROM intermediate.int_employee_weeks
    WHERE period = 'plan'
    GROUP BY practice, week_start
),
alloc AS (
    SELECT a.allocation_id, a.allocation_state, e.practice, a.start_date, a.end_date,
           CAST(a.minutes AS DECIMAL(38,0)) AS minutes
    FROM staging.stg_kantata_allocations a
    LEFT JOIN staging.stg_kantata_users u ON u.user_id = a.user_id
    LEFT JOIN canonical.dim_employee e ON e.employee_id = u.employee_id
    CROSS JOIN rc
    WHERE a.start_date <= rc.plan_end AND a.end_date >= rc.plan_start AND a.end_date >= a.start_date
),
alloc_days AS (
    SELECT allocation_id, allocation_state, practice, minutes, CAST(d AS DATE) AS day
    FROM (SELECT a.*, unnest(generate_series(a.start_date, a.end_date, INTERVAL '1 day')) AS d FROM alloc a) x
    WHERE extract(isodow FROM d) <= 5
),
alloc_spread AS (
    SELECT practice, allocation_state, day,
           CAST(CAST(minutes AS DECIMAL(38,12)) / (CAST(count(*) OVER (PARTITION BY allocation_id) AS DECIMAL(38,0)) * CAST(60 AS DECIMAL(38,0))) AS DECIMAL(38,12)) AS day_hours
    FROM alloc_days
),
pipe AS (
    SELECT o.opportunity_id, o.practice, o.start_date, o.end_date,
           CAST(coalesce(o.estimated_hours, 0.0) AS DECIMAL(18,6)) * CAST(coalesce(o.probability, 0.0) AS DECIMAL(18,8)) AS hours
    FROM intermediate.int_opportunities o CROSS JOIN rc
    -- Open = the flags say so (SPEC 4: won/lost from IsWon/IsClosed or hs_is_closed_won, not from
    -- labels; HubSpot's is_closed already counts `closedlost` as lost).
    WHERE NOT o.is_closed AND NOT o.is_won AND NOT o.is_removed
      AND o.start_date IS NOT NULL AND o.start_date <= rc.plan_end
      -- spread over the working days from start to end date: without an end date there is no
      -- range, so no pipeline hours (SPEC 4.9 read literally; the independent reference agrees)
      AND o.end_date IS NOT NULL AND o.end_date >= rc.plan_start
      AND o.end_date >= o.start_date
),
pipe_days AS (
    SELECT opportunity_id, practice, hours, CAST(d AS DATE) AS day
    FROM (SELECT p.*, unnest(generate_series(p.start_date, p.end_date, INTERVAL '1 day')) AS d FROM pipe p) x
    WHERE extract(isodow FROM d) <= 5
),
pipe_spread AS (
    SELECT practice, day,
           CAST(CAST(hours AS DECIMAL(38,14)) / CAST(count(*) OVER (PARTITION BY opportunity_id) AS DECIMAL(38,0)) AS DECIMAL(38,12)) AS day_hours
    FROM pipe_days
),
demand AS (
    SELECT practice, CAST(date_trunc('week', day) AS DATE) AS week_start,
           sum(CASE WHEN allocation_state = 'hard' THEN day_hours ELSE CAST(0 AS DECIMAL(38,12)) END) AS hard_hours,
           sum(CASE WHEN allocation_state = 'soft' THEN day_hours ELSE CAST(0 AS DECIMAL(38,12)) END) AS soft_hours,
           CAST(0 AS DECIMAL(38,12)) AS pipeline_hours
    FROM alloc_spread CROSS JOIN rc
    WHERE day BETWEEN rc.plan_start AND rc.plan_end
    GROUP BY practice, CAST(date_trunc('week', day) AS DATE)
    UNION ALL
    SELECT practice, CAST(date_trunc('week', day) AS DATE) AS week_start,
           CAST(0 AS DECIMAL(38,12)), CAST(0 AS DECIMAL(38,12)), sum(day_hours)
    FROM pipe_spread CROSS JOIN rc
    WHERE day BETWEEN rc.plan_start AND rc.plan_end
    GROUP BY practice, CAST(date_trunc('week', day) AS DATE)
),
practices AS (
    SELECT practice FROM cap
    UNION SELECT practice FROM demand
),
summed AS (
    SELECT p.practice, w.week_start,
           CAST(coalesce(max(c.capacity_hours), 0) AS DECIMAL(38,12)) AS capacity_hours,
           CAST(coalesce(sum(d.hard_hours), 0) AS DECIMAL(38,12))     AS hard_allocated_hours,
           CAST(coalesce(sum(d.soft_hours), 0) AS DECIMAL(38,12))     AS soft_allocated_hours,
           CAST(coalesce(sum(d.pipeline_hours), 0) AS DECIMAL(38,12)) AS weighted_pipeline_hours
    FROM practices p
    CROSS JOIN weeks w
    LEFT JOIN cap c ON (c.practice IS NOT DISTINCT FROM p.practice) AND c.week_start = w.week_start
    LEFT JOIN demand d ON (d.practice IS NOT DISTINCT FROM p.practice) AND d.week_start = w.week_start
    GROUP BY p.practice, w.week_start
)
SELECT
    practice,
    week_start,
    CAST(CAST(capacity_hours AS DECIMAL(18,4)) AS DOUBLE)          AS capacity_hours,
    CAST(CAST(hard_allocated_hours AS DECIMAL(18,4)) AS DOUBLE)    AS hard_allocated_hours,
    CAST(CAST(soft_allocated_hours AS DECIMAL(18,4)) AS DOUBLE)    AS soft_allocated_hours,
    CAST(CAST(weighted_pipeline_hours AS DECIMAL(18,4)) AS DOUBLE) AS weighted_pipeline_hours,
    -- differences of the exact sums, rounded once
    CAST(CAST(capacity_hours - hard_allocated_hours AS DECIMAL(18,4)) AS DOUBLE) AS unallocated_hours,
    CAST(CAST(hard_allocated_hours + soft_allocated_hours + weighted_pipeline_hours - capacity_hours AS DECIMAL(18,4)) AS DOUBLE) AS demand_gap_hours
FROM summed
