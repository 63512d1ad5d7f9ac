-- Every staged time entry with its conformed keys, exact USD amounts and the FIRST row rule it
-- fails (SPEC section 5), in this order: unknown project (workspace or its ERP project), unknown
-- employee, hours out of range, outside employment, no FX rate. The more-than-24-hours-a-day rule
-- then runs over the entries that passed: an employee's approved hours on one day > 24 rejects
-- all that day's (otherwise passing) entries.
-- Entries dated after as_of are outside the window (SPEC exact rules): in no series and not
-- rejected either; they wait for a later as_of (quality.warnings_after_as_of counts them).
-- An entry in another currency than its project's is also carried in the project currency:
-- amount x rate(entry currency) / rate(project currency), at the work month's rates.
-- The cost rate is the employee's version valid on the work date (SPEC 4b: a raise never rewrites
-- past margin; before the first version the first applies): intermediate.int_employee_versions.
-- The 24-hours rule needs the rules above on the entries of the days it sums, and DataFusion
-- computes a CTE once per read: summing over `ruled` itself ran every join and rule over every
-- entry a second time (at scale 100, a third of the model's CPU). So the rules run once over
-- `entries`: every entry, plus (`probe`) a second copy of the entries on the few days that can be
-- over 24 hours. The probe rows only feed over_days and every other row only the output; the
-- `probe` filters reach the two sides of the UNION ALL, so each read of `ruled` runs over one side.
-- candidate_days: days whose approved minutes in range (over every entry of the employee's
-- logins, passing or not) exceed 1440. The entries that pass are among them, so every day over
-- 24 hours is a candidate; over_days then keeps the candidates whose passing entries exceed it.
WITH candidate_days AS (
    SELECT u.employee_id, t.work_date
    FROM staging.stg_kantata_users u
    JOIN staging.stg_kantata_time_entries t ON t.user_id = u.user_id
    WHERE NOT t.is_deleted AND t.approved AND t.minutes > 0 AND t.minutes <= 1440
    GROUP BY u.employee_id, t.work_date
    HAVING sum(t.minutes) > 1440
),
-- The small sides first (candidate days, then the logins), as a hash join holds its left input.
entries AS (
    SELECT t.*, false AS probe
    FROM staging.stg_kantata_time_entries t
    UNION ALL
    SELECT t.*, true AS probe
    FROM candidate_days c
    JOIN staging.stg_kantata_users u ON u.employee_id = c.employee_id
    JOIN staging.stg_kantata_time_entries t ON t.user_id = u.user_id AND t.work_date = c.work_date
),
-- The dimensions joined among themselves first (a few thousand rows each), so the entries
-- meet two joins instead of four: workspaces with their ERP project, logins with their employee.
-- An unknown workspace has no project and an unknown login no employee, so the first two rules
-- read project_id and employee_id alone.
workspace_projects AS (
    SELECT w.workspace_id, j.project_id, j.currency AS project_currency
    FROM staging.stg_kantata_workspaces w
    LEFT JOIN staging.stg_netsuite_job j ON j.project_code = w.project_code
),
login_employees AS (
    SELECT u.user_id, e.employee_id, e.hire_date, e.termination_date
    FROM staging.stg_kantata_users u
    LEFT JOIN staging.stg_workday_workers e ON e.employee_id = u.employee_id
),
resolved AS (
    SELECT
        t.time_entry_id,
        t.workspace_id,
        t.user_id,
        t.work_date,
        t.minutes,
        t.hours,
        t.billable,
        t.approved,
        t.time_state,
        t.rate_in_cents,
        t.currency,
        t.probe,
        w.project_id,
        u.employee_id,
        u.hire_date,
        u.termination_date,
        v.hourly_cost_rate,
        v.cost_currency,
        w.project_currency,
        CAST(date_trunc('month', t.work_date) AS DATE) AS work_month
    FROM entries t
    LEFT JOIN workspace_projects w ON w.workspace_id = t.workspace_id
    LEFT JOIN login_employees u    ON u.user_id = t.user_id
    LEFT JOIN intermediate.int_employee_versions v
           ON v.employee_id = u.employee_id
          AND (v.applies_from IS NULL OR t.work_date >= v.applies_from)
          AND (v.valid_to IS NULL OR t.work_date < v.valid_to)
    CROSS JOIN pslake.run_context rc
    WHERE NOT t.is_deleted AND (t.work_date IS NULL OR t.work_date <= rc.as_of)
),
rated AS (
    SELECT
        r.*,
        -- the bill amount (hours x rate, computed for every entry) is converted when the entry
        -- has a rate; the cost amount whenever the employee has a cost rate
        (r.rate_in_cents IS NOT NULL)                      AS bill_converted,
        (r.hourly_cost_rate IS NOT NULL)                   AS cost_converted,
        CASE WHEN r.currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE fb.usd_per_unit END      AS bill_fx,
        CASE WHEN r.cost_currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE fc.usd_per_unit END AS cost_fx,
        CASE WHEN r.project_currency = 'USD' THEN CAST(1 AS DECIMAL(18,8)) ELSE fp.usd_per_unit END AS project_fx
    FROM resolved r
    LEFT JOIN staging.stg_treasury_fx_rates fb ON fb.currency = r.currency AND fb.month = r.work_month
    LEFT JOIN staging.stg_treasury_fx_rates fc ON fc.currency = r.cost_currency AND fc.month = r.work_month
    LEFT JOIN staging.stg_treasury_fx_rates fp ON fp.currency = r.project_currency AND fp.month = r.work_month
),
ruled AS (
    SELECT
        r.*,
        CASE
            WHEN r.project_id IS NULL THEN 'unknown_project'
            WHEN r.employee_id IS NULL THEN 'unknown_employee'
            WHEN r.minutes IS NULL OR r.minutes <= 0 OR r.minutes > 1440 THEN 'hours_out_of_range'
            WHEN r.work_date IS NULL OR (r.hire_date IS NOT NULL AND r.work_date < r.hire_date)
                 OR (r.termination_date IS NOT NULL AND r.work_date > r.termination_date)
                THEN 'outside_employment'
            WHEN (r.bill_converted AND r.bill_fx IS NULL) OR (r.cost_converted AND r.cost_fx IS NULL)
                 OR (r.bill_converted AND (r.currency IS DISTINCT FROM r.project_currency) AND r.project_fx IS NULL)
                THEN 'no_fx_rate'
        END AS first_rule,
        CASE WHEN r.bill_converted AND r.bill_fx IS NULL THEN 'bill'
             WHEN r.cost_converted AND r.cost_fx IS NULL THEN 'cost'
             WHEN r.bill_converted AND (r.currency IS DISTINCT FROM r.project_currency) AND r.project_fx IS NULL
                 THEN 'project' END AS fx_missing_for
    FROM rated r
),
-- Only the days over 24 approved hours (a handful), so the join below holds almost nothing in
-- memory; joining every employee's day (5.3M at scale 100) held 150-300 MB more.
over_days AS (
    SELECT employee_id, work_date
    FROM ruled
    WHERE probe AND first_rule IS NULL
    GROUP BY employee_id, work_date
    HAVING sum(CASE WHEN approved THEN minutes ELSE 0 END) > 1440
)
SELECT
    r.time_entry_id,
    r.workspace_id,
    r.user_id,
    r.employee_id,
    r.project_id,
    r.work_date,
    r.work_month,
    r.minutes,
    r.hours,
    r.billable,
    coalesce(r.approved, false) AS approved,
    r.time_state,
    r.rate_in_cents,
    r.currency,
    r.hourly_cost_rate,
    r.cost_currency,
    r.project_currency,
    -- the entry's currency differs from its project's: revenue in the project currency converts it
    (r.currency IS DISTINCT FROM r.project_currency)    AS cross_currency,
    r.bill_fx,
    r.project_fx,
    -- exact amounts (wide decimals, not rounded): minutes * cents / 6000 = dollars; computed for
    -- every entry, billable or not, submitted or approved (revenue filters on its own)
    CAST(CAST(r.minutes AS DECIMAL(20,0)) * CAST(r.rate_in_cents AS DECIMAL(20,0)) AS DECIMAL(38,10))
        / CAST(6000 AS DECIMAL(38,10)) AS bill_amount_local_exact,
    CAST(CAST(r.minutes AS DECIMAL(20,0)) * CAST(r.rate_in_cents AS DECIMAL(20,0)) * r.bill_fx AS DECIMAL(38,12))
        / CAST(6000 AS DECIMAL(38,0)) AS bill_amount_usd_exact,
    CAST(CAST(r.minutes AS DECIMAL(20,0)) * r.hourly_cost_rate * r.cost_fx AS DECIMAL(38,16))
        / CAST(60 AS DECIMAL(38,0)) AS cost_amount_usd_exact,
    -- the same cost x 60, exact (a finite decimal): sums divide by 60 once
    CAST(CAST(r.minutes AS DECIMAL(20,0)) * r.hourly_cost_rate * r.cost_fx AS DECIMAL(38,10)) AS cost_usd_minutes,
    r.fx_missing_for,
    CASE
        WHEN r.first_rule IS NOT NULL THEN r.first_rule
        WHEN d.employee_id IS NOT NULL THEN 'over_24_hours_per_day'
    END AS rule
-- The days over 24 hours are the join's left input, so they are the side held in memory and the
-- entries stream past them. A matched day has a non-NULL employee (the first rule passed).
FROM over_days d
RIGHT JOIN ruled r ON d.employee_id = r.employee_id AND d.work_date = r.work_date
WHERE NOT r.probe
