-- Exact (unrounded) revenue per project and month, over every month from the first activity up to
-- the as_of month (canonical.revenue reports from history_start; backlog needs the whole history).
--   time_and_materials: approved billable hours x the entry's bill rate
--   fixed_fee: contract(end m) x pct(m) - contract(end m-1) x pct(m-1), where
--              pct(m) = min(1, cumulative approved hours to end of m / budget_hours), or 1 once the
--              project is completed and the month's last day is on or after its end date
--   milestone: amounts of milestone stories accepted in the month (by the date written in accepted_at)
-- Every amount stays in wide decimals; USD at the rate of the revenue month.
-- Cross-currency (SPEC exact rules): a time entry or booking in another currency than its project's
-- counts in the project currency through USD at its month's rates (amount x rate(from) / rate(project)).
-- A figure that needs a missing rate is NULL, never 0: revenue_usd when the project currency has no
-- rate for the month, revenue_local when a cross-currency amount cannot be converted.
WITH rc AS (
    SELECT as_of, history_start, CAST(date_trunc('month', as_of) AS DATE) AS as_of_month
    FROM pslake.run_context
),
-- approved, rule-passing time per project-month up to as_of (sums over the entries, taken once
-- in int_project_month_time)
pm_time AS (
    SELECT * FROM intermediate.int_project_month_time WHERE in_period
),
fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
),
first_month AS (
    SELECT least(
        (SELECT min(month) FROM pm_time),
        (SELECT CAST(date_trunc('month', min(booking_date)) AS DATE) FROM intermediate.int_contract_events),
        (SELECT CAST(date_trunc('month', history_start) AS DATE) FROM rc)
    ) AS m
),
months AS (
    SELECT CAST(m AS DATE) AS month
    FROM (SELECT unnest(generate_series(f.m, rc.as_of_month, INTERVAL '1 month')) AS m FROM first_month f CROSS JOIN rc) g
),
projects AS (
    SELECT project_id, billing_type, project_status, end_date, currency, budget_hours
    FROM canonical.dim_project
),
-- approved billable hours and T&M amounts (sums of minutes x cents, divided once); entries in
-- the project currency are summed as they are, the others as USD cent-minutes (converted to the
-- project currency once per month, where the month's project rate is known)
tm_sums AS (
    SELECT project_id, month, billable_minutes, same_cent_minutes, cross_usd_cent_minutes, has_cross, usd_cent_minutes
    FROM pm_time
),
tm AS (
    SELECT
        t.project_id,
        t.month,
        t.billable_minutes,
        t.usd_cent_minutes,
        -- project-currency cent-minutes: exact without cross-currency entries, else the USD part
        -- divided by the project rate (NULL when the project currency has no rate that month)
        CASE WHEN t.has_cross = 0 THEN CAST(t.same_cent_minutes AS DECIMAL(38,6))
             ELSE CAST((CAST(t.same_cent_minutes AS DECIMAL(38,0)) * pr.rate + t.cross_usd_cent_minutes) / pr.rate AS DECIMAL(38,6))
        END AS local_cent_minutes
    FROM tm_sums t
    JOIN projects p ON p.project_id = t.project_id
    LEFT JOIN (SELECT currency, month, usd_per_unit AS rate FROM fx
               UNION ALL
               SELECT 'USD' AS currency, month, CAST(1 AS DECIMAL(18,8)) AS rate FROM months) pr
           ON pr.currency = p.currency AND pr.month = t.month
),
-- all approved minutes per project-month (fixed-fee progress: billable or not, every worker)
worked AS (
    SELECT project_id, month, minutes FROM pm_time
),
ff_grid AS (
    SELECT
        p.project_id,
        m.month,
        least(CAST(m.month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE), rc.as_of) AS cutoff,
        CAST(m.month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) AS month_end,
        p.project_status,
        p.end_date,
        CAST(CAST(p.budget_hours AS DECIMAL(18,4)) * CAST(60 AS DECIMAL(18,4)) AS DECIMAL(38,4)) AS budget_minutes
    FROM projects p CROSS JOIN months m CROSS JOIN rc
    WHERE p.billing_type = 'fixed_fee'
),
cum_hours AS (
    SELECT g.project_id, g.month, coalesce(sum(w.minutes), 0) AS cum_minutes
    FROM ff_grid g
    LEFT JOIN worked w ON w.project_id = g.project_id AND w.month <= g.month
    GROUP BY g.project_id, g.month
),
cum_contract AS (
    -- NULL (unknown) while any event up to the cutoff could not be converted to the project currency
    SELECT g.project_id, g.month,
           CASE WHEN max(CASE WHEN b.booking_id IS NOT NULL AND b.amount_project IS NULL THEN 1 ELSE 0 END) = 1
                THEN CAST(NULL AS DECIMAL(38,12))
                ELSE coalesce(sum(b.amount_project), CAST(0 AS DECIMAL(38,12))) END AS contract_local
    FROM ff_grid g
    LEFT JOIN intermediate.int_contract_events b ON b.project_id = g.project_id AND b.booking_date <= g.cutoff
    GROUP BY g.project_id, g.month
),
ff_cum AS (
    SELECT
        g.project_id,
        g.month,
        g.budget_minutes,
        h.cum_minutes,
        c.contract_local,
        (g.project_status = 'completed' AND g.end_date IS NOT NULL AND g.month_end >= g.end_date) AS is_complete
    FROM ff_grid g
    JOIN cum_hours h ON h.project_id = g.project_id AND h.month = g.month
    JOIN cum_contract c ON c.project_id = g.project_id AND c.month = g.month
),
ff_num AS (
    -- numerator over the common denominator budget_minutes: contract x min(cum, budget)
    SELECT
        project_id,
        month,
        budget_minutes,
        CAST(contract_local AS DECIMAL(38,12)) * CASE
            WHEN is_complete OR CAST(cum_minutes AS DECIMAL(38,4)) >= budget_minutes THEN budget_minutes
            ELSE CAST(cum_minutes AS DECIMAL(38,4))
        END AS num
    FROM ff_cum
),
ff_delta AS (
    SELECT
        project_id,
        month,
        budget_minutes,
        -- the first month has no predecessor (0); a NULL contract makes the delta NULL
        CAST(num - CASE WHEN row_number() OVER (PARTITION BY project_id ORDER BY month) = 1 THEN CAST(0 AS DECIMAL(38,16))
                        ELSE lag(num) OVER (PARTITION BY project_id ORDER BY month) END AS DECIMAL(38,6)) AS num_delta
    FROM ff_num
),
ff AS (
    SELECT
        project_id,
        month,
        budget_minutes,
        num_delta,
        CAST(num_delta AS DECIMAL(38,12)) / NULLIF(budget_minutes, CAST(0 AS DECIMAL(38,4))) AS revenue_local
    FROM ff_delta
),
-- milestone amounts are in the Kantata workspace's currency; one in another currency than its
-- project's counts in the project currency through USD at the acceptance month's rates
ms_sums AS (
    SELECT
        j.project_id,
        CAST(date_trunc('month', s.accepted_date) AS DATE) AS month,
        w.currency AS ws_currency,
        j.currency AS project_currency,
        sum(CAST(s.billing_amount_in_cents AS DECIMAL(20,0))) AS cents
    FROM staging.stg_kantata_stories s
    JOIN staging.stg_kantata_workspaces w ON w.workspace_id = s.workspace_id
    JOIN staging.stg_netsuite_job j ON j.project_code = w.project_code
    CROSS JOIN rc
    WHERE s.story_type = 'milestone' AND s.state = 'accepted' AND j.billing_type = 'milestone'
      AND s.accepted_date IS NOT NULL AND s.accepted_date <= rc.as_of
    GROUP BY j.project_id, CAST(date_trunc('month', s.accepted_date) AS DATE), w.currency, j.currency
),
ms AS (
    SELECT
        m.project_id,
        m.month,
        -- project-currency cents: exact when every milestone is in the project currency
        CASE WHEN max(CASE WHEN (m.ws_currency IS DISTINCT FROM m.project_currency) THEN 1 ELSE 0 END) = 0
             THEN CAST(sum(m.cents) AS DECIMAL(38,6))
             ELSE CAST(sum(CAST(m.cents AS DECIMAL(38,0)) * CASE WHEN m.ws_currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE wf.usd_per_unit END)
                       / max(CASE WHEN m.project_currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE pf.usd_per_unit END) AS DECIMAL(38,6))
        END AS cents,
        -- USD cents at the month's rate of the milestone's own currency (NULL without a rate)
        CAST(sum(CAST(m.cents AS DECIMAL(38,0)) * CASE WHEN m.ws_currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE wf.usd_per_unit END) AS DECIMAL(38,8)) AS usd_cents
    FROM ms_sums m
    LEFT JOIN fx wf ON wf.currency = m.ws_currency AND wf.month = m.month
    LEFT JOIN fx pf ON pf.currency = m.project_currency AND pf.month = m.month
    GROUP BY m.project_id, m.month
),
keys AS (
    SELECT project_id, month FROM tm
    UNION SELECT project_id, month FROM ff
    UNION SELECT project_id, month FROM ms
)
SELECT
    k.project_id,
    k.month,
    p.billing_type,
    p.currency,
    CASE p.billing_type
        WHEN 'time_and_materials' THEN CAST(CASE WHEN tm.project_id IS NULL THEN CAST(0 AS DECIMAL(20,0)) ELSE tm.local_cent_minutes END AS DECIMAL(38,12)) / CAST(6000 AS DECIMAL(38,0))
        WHEN 'fixed_fee' THEN CAST(CASE WHEN ff.project_id IS NULL THEN CAST(0 AS DECIMAL(38,16)) ELSE ff.revenue_local END AS DECIMAL(38,16))
        WHEN 'milestone' THEN CAST(CASE WHEN ms.project_id IS NULL THEN CAST(0 AS DECIMAL(38,6)) ELSE ms.cents END AS DECIMAL(38,12)) / CAST(100 AS DECIMAL(38,0))
        ELSE CAST(0 AS DECIMAL(38,16))
    END AS revenue_local_exact,
    CASE p.billing_type
        WHEN 'time_and_materials' THEN CAST(CASE WHEN tm.project_id IS NULL THEN CAST(0 AS DECIMAL(20,0)) ELSE tm.usd_cent_minutes END AS DECIMAL(38,12)) / CAST(6000 AS DECIMAL(38,0))
        WHEN 'fixed_fee' THEN CAST(CAST(CASE WHEN ff.project_id IS NULL THEN CAST(0 AS DECIMAL(38,6)) ELSE ff.num_delta END AS DECIMAL(38,6))
                                   * CASE WHEN p.currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE fxp.usd_per_unit END AS DECIMAL(38,14))
                              / NULLIF(ff.budget_minutes, CAST(0 AS DECIMAL(38,4)))
        WHEN 'milestone' THEN CAST(CASE WHEN ms.project_id IS NULL THEN CAST(0 AS DECIMAL(38,8)) ELSE ms.usd_cents END AS DECIMAL(38,12))
                              / CAST(100 AS DECIMAL(38,0))
        ELSE CAST(0 AS DECIMAL(38,16))
    END AS revenue_usd_exact,
    -- revenue_local_exact = revenue_num / revenue_den exactly, with one denominator per project
    -- (T&M cent-minutes / 6000, milestone cents / 100, fixed fee over budget_minutes): a sum over
    -- months (backlog's revenue to date) adds the numerators and divides once, because the
    -- per-month quotient of a fixed-fee month is not a finite decimal (x/12 ...) and summing
    -- truncated quotients can move a total that is exactly on a half cent.
    CASE p.billing_type
        WHEN 'time_and_materials' THEN CAST(CASE WHEN tm.project_id IS NULL THEN CAST(0 AS DECIMAL(20,0)) ELSE tm.local_cent_minutes END AS DECIMAL(38,6))
        WHEN 'fixed_fee' THEN CAST(CASE WHEN ff.project_id IS NULL THEN CAST(0 AS DECIMAL(38,6)) ELSE ff.num_delta END AS DECIMAL(38,6))
        WHEN 'milestone' THEN CAST(CASE WHEN ms.project_id IS NULL THEN CAST(0 AS DECIMAL(38,6)) ELSE ms.cents END AS DECIMAL(38,6))
        ELSE CAST(0 AS DECIMAL(38,6))
    END AS revenue_num,
    CASE p.billing_type
        WHEN 'time_and_materials' THEN CAST(6000 AS DECIMAL(38,4))
        WHEN 'fixed_fee' THEN CAST(ff.budget_minutes AS DECIMAL(38,4))
        WHEN 'milestone' THEN CAST(100 AS DECIMAL(38,4))
        ELSE CAST(1 AS DECIMAL(38,4))
    END AS revenue_den,
    -- revenue_usd_exact = revenue_usd_num / revenue_den exactly (the USD numerator at the month's rate)
    CASE p.billing_type
        WHEN 'time_and_materials' THEN CAST(CASE WHEN tm.project_id IS NULL THEN CAST(0 AS DECIMAL(20,0)) ELSE tm.usd_cent_minutes END AS DECIMAL(38,14))
        WHEN 'fixed_fee' THEN CAST(CAST(CASE WHEN ff.project_id IS NULL THEN CAST(0 AS DECIMAL(38,6)) ELSE ff.num_delta END AS DECIMAL(38,6))
                                   * CASE WHEN p.currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE fxp.usd_per_unit END AS DECIMAL(38,14))
        WHEN 'milestone' THEN CAST(CASE WHEN ms.project_id IS NULL THEN CAST(0 AS DECIMAL(38,8)) ELSE ms.usd_cents END AS DECIMAL(38,14))
        ELSE CAST(0 AS DECIMAL(38,14))
    END AS revenue_usd_num,
    coalesce(tm.billable_minutes, 0) AS billable_minutes
FROM keys k
JOIN projects p ON p.project_id = k.project_id
LEFT JOIN tm ON tm.project_id = k.project_id AND tm.month = k.month
LEFT JOIN ff ON ff.project_id = k.project_id AND ff.month = k.month
LEFT JOIN ms ON ms.project_id = k.project_id AND ms.month = k.month
LEFT JOIN fx fxp ON fxp.currency = p.currency AND fxp.month = k.month
