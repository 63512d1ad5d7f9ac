-- Warning: one per currency and month with no treasury rate that some figure needed (SPEC exact
-- rules), saying how many rows it affects: bookings published with a NULL amount_usd, revenue,
-- margin, backlog and billing rows whose USD figures are NULL, forecast snapshots whose forecast or
-- actual needs the rate, and the time entries and NetSuite lines
-- rejected (`no_fx_rate`) until the rate arrives. Nothing is 0 for want of a rate.
WITH fx AS (
    SELECT currency, month FROM staging.stg_treasury_fx_rates
),
affected AS (
    SELECT currency, CAST(date_trunc('month', booking_date) AS DATE) AS month, 'bookings' AS what
    FROM canonical.bookings
    WHERE amount_usd IS NULL
    UNION ALL
    -- a booking event that could not be converted to its project's currency: the missing side
    SELECT CASE WHEN fb.currency IS NULL AND c.currency <> 'USD' THEN c.currency ELSE c.project_currency END,
           CAST(date_trunc('month', c.booking_date) AS DATE), 'contract_events'
    FROM intermediate.int_contract_events c
    LEFT JOIN fx fb ON fb.currency = c.currency AND fb.month = CAST(date_trunc('month', c.booking_date) AS DATE)
    WHERE c.amount_project IS NULL
    UNION ALL
    -- revenue, margin and backlog rows count under their project currency when that is the rate
    -- missing; a NULL that comes from a booking event's missing rate counts under the event above
    SELECT p.currency, r.month, 'revenue'
    FROM canonical.revenue r JOIN canonical.dim_project p ON p.project_id = r.project_id
    LEFT JOIN fx ON fx.currency = p.currency AND fx.month = r.month
    WHERE (r.revenue_usd IS NULL OR r.revenue_local IS NULL) AND p.currency <> 'USD' AND fx.currency IS NULL
    UNION ALL
    SELECT p.currency, m.month, 'margin'
    FROM canonical.margin m JOIN canonical.dim_project p ON p.project_id = m.project_id
    LEFT JOIN fx ON fx.currency = p.currency AND fx.month = m.month
    WHERE m.gross_margin_usd IS NULL AND p.currency <> 'USD' AND fx.currency IS NULL
    UNION ALL
    SELECT p.currency, CAST(date_trunc('month', b.snapshot_date) AS DATE), 'backlog'
    FROM canonical.backlog b JOIN canonical.dim_project p ON p.project_id = b.project_id
    LEFT JOIN fx ON fx.currency = p.currency AND fx.month = CAST(date_trunc('month', b.snapshot_date) AS DATE)
    WHERE (b.contract_usd IS NULL OR b.revenue_to_date_usd IS NULL) AND p.currency <> 'USD' AND fx.currency IS NULL
    UNION ALL
    SELECT p.currency, b.month, 'billing'
    FROM canonical.billing b JOIN canonical.dim_project p ON p.project_id = b.project_id
    LEFT JOIN fx ON fx.currency = p.currency AND fx.month = b.month
    WHERE b.invoiced_to_date_usd IS NULL AND p.currency <> 'USD' AND fx.currency IS NULL
    UNION ALL
    -- a forecast or actual that needs the rate of an opportunity's or booking's currency at the
    -- snapshot month: one row per snapshot and currency whose figure is NULL for it
    SELECT DISTINCT x.currency, x.month, 'forecast_accuracy'
    FROM (
        SELECT o.currency, s.snapshot_month AS month
        FROM intermediate.int_opportunity_states s
        JOIN intermediate.int_opportunities o ON o.opportunity_id = s.opportunity_id AND o.source_system = s.source_system
        WHERE NOT o.is_removed AND s.amount IS NOT NULL AND s.probability IS NOT NULL
          AND (s.opportunity_stage IS NULL OR s.opportunity_stage NOT IN ('closed_won', 'closed_lost'))
          AND s.close_date > s.snapshot_date AND s.close_date <= s.horizon
        UNION ALL
        SELECT b.currency, s.snapshot_month
        FROM intermediate.int_forecast_snapshots s
        JOIN canonical.bookings b ON b.event_type = 'won' AND b.booking_date > s.snapshot_date AND b.booking_date <= s.horizon
    ) x
    LEFT JOIN fx ON fx.currency = x.currency AND fx.month = x.month
    WHERE x.currency <> 'USD' AND fx.currency IS NULL
    UNION ALL
    SELECT CASE fx_missing_for WHEN 'cost' THEN cost_currency WHEN 'project' THEN project_currency ELSE currency END,
           work_month, 'time_entries'
    FROM intermediate.int_time_entries_checked
    WHERE rule = 'no_fx_rate'
    UNION ALL
    SELECT fx_currency, month, 'lines'
    FROM intermediate.int_netsuite_lines_checked
    WHERE rule = 'no_fx_rate'
),
counted AS (
    SELECT
        currency,
        month,
        sum(CASE WHEN what = 'bookings' THEN 1 ELSE 0 END)        AS bookings,
        sum(CASE WHEN what = 'contract_events' THEN 1 ELSE 0 END) AS contract_events,
        sum(CASE WHEN what = 'revenue' THEN 1 ELSE 0 END)         AS revenue,
        sum(CASE WHEN what = 'margin' THEN 1 ELSE 0 END)          AS margin,
        sum(CASE WHEN what = 'backlog' THEN 1 ELSE 0 END)         AS backlog,
        sum(CASE WHEN what = 'billing' THEN 1 ELSE 0 END)         AS billing,
        sum(CASE WHEN what = 'forecast_accuracy' THEN 1 ELSE 0 END) AS forecasts,
        sum(CASE WHEN what = 'time_entries' THEN 1 ELSE 0 END)    AS time_entries,
        sum(CASE WHEN what = 'lines' THEN 1 ELSE 0 END)           AS lines
    FROM affected
    WHERE currency IS NOT NULL AND month IS NOT NULL
    GROUP BY currency, month
)
SELECT
    'missing_fx_rate'                 AS rule,
    'treasury.fx_rates'               AS source,
    concat(currency, ':', substr(CAST(month AS VARCHAR), 1, 7)) AS key,
    concat('no FX rate for ', currency, ' in ', substr(CAST(month AS VARCHAR), 1, 7), ': ',
           CAST(bookings + revenue + margin + backlog + billing + forecasts + contract_events + time_entries + lines AS VARCHAR), ' rows affected (',
           CAST(bookings AS VARCHAR), ' bookings with a NULL amount_usd, ',
           CAST(contract_events AS VARCHAR), ' booking events not converted to their project currency, ',
           CAST(revenue AS VARCHAR), ' revenue, ', CAST(margin AS VARCHAR), ' margin, ',
           CAST(backlog AS VARCHAR), ' backlog and ', CAST(billing AS VARCHAR), ' billing rows with NULL USD figures; ',
           CAST(forecasts AS VARCHAR), ' forecast snapshots with a NULL forecast or actual; ',
           CAST(time_entries AS VARCHAR), ' time entries and ', CAST(lines AS VARCHAR),
           ' NetSuite lines rejected as no_fx_rate until the rate arrives)') AS message
FROM counted
