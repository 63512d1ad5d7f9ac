-- DuckDB translation of sql/canonical/billing.sql (materialized: table).
CREATE TABLE canonical.billing AS
-- Unbilled and overbilled work per project and month (SPEC 4b.13), on the revenue/margin rows
-- (intermediate.int_project_month_activity: each project and month with activity). Revenue to
-- date and non-voided invoices to date run through the month end, over the project's whole history
-- (months before history_start included), both summed in the project currency and converted at the
-- row month's rate, like backlog. An invoice line in another currency than its project's counts in
-- the project currency through USD at its month's rates. unbilled = max(0, revenue - invoiced),
-- overbilled = max(0, invoiced - revenue). wip_days = unbilled / (revenue of the month and the two
-- before it / their calendar days), in the project currency, NULL when that revenue is 0.
-- Revenue figures that need a missing rate, or a revenue month that could not be converted into the
-- project currency, are NULL, never 0.
-- Revenue is carried as int_revenue_monthly's exact numerators over the project's one denominator
-- (revenue_num / revenue_den) and divided once in each cell, as backlog does.
WITH fx AS (
    SELECT currency, month, usd_per_unit FROM staging.stg_treasury_fx_rates
),
grid AS (
    SELECT a.project_id, a.month, a.currency,
           CAST(a.month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) AS month_end,
           CAST(a.month - INTERVAL '2 months' AS DATE) AS window_start
    FROM intermediate.int_project_month_activity a
),
rev AS (
    SELECT project_id, month, revenue_num, revenue_den
    FROM intermediate.int_revenue_monthly
),
inv AS (
    SELECT l.project_id, l.month,
           sum(CASE WHEN l.currency IS NOT DISTINCT FROM l.project_currency
                    THEN CAST(l.amount AS DECIMAL(38,16))
                    ELSE CAST(CAST(l.amount_usd_exact AS DECIMAL(38,16))
                              / CASE WHEN l.project_currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE pfx.usd_per_unit END
                              AS DECIMAL(38,16)) END) AS invoiced_local
    FROM intermediate.int_netsuite_lines_checked l
    LEFT JOIN fx pfx ON pfx.currency = l.project_currency AND pfx.month = l.month
    WHERE l.stream = 'invoice_line' AND l.converted AND l.rule IS NULL AND l.month IS NOT NULL
    GROUP BY l.project_id, l.month
),
rtd AS (
    SELECT g.project_id, g.month,
           CASE WHEN max(CASE WHEN r.project_id IS NOT NULL AND r.revenue_num IS NULL THEN 1 ELSE 0 END) = 1
                THEN CAST(NULL AS DECIMAL(38,6))
                ELSE coalesce(sum(r.revenue_num), CAST(0 AS DECIMAL(38,6))) END AS rtd_num,
           CASE WHEN max(CASE WHEN r.project_id IS NOT NULL AND r.month >= g.window_start AND r.revenue_num IS NULL THEN 1 ELSE 0 END) = 1
                THEN CAST(NULL AS DECIMAL(38,6))
                ELSE coalesce(sum(CASE WHEN r.month >= g.window_start THEN r.revenue_num END), CAST(0 AS DECIMAL(38,6))) END AS rev3_num,
           coalesce(max(r.revenue_den), CAST(1 AS DECIMAL(38,4))) AS den
    FROM grid g
    LEFT JOIN rev r ON r.project_id = g.project_id AND r.month <= g.month
    GROUP BY g.project_id, g.month
),
itd AS (
    SELECT g.project_id, g.month, coalesce(sum(i.invoiced_local), CAST(0 AS DECIMAL(38,16))) AS itd_local
    FROM grid g
    LEFT JOIN inv i ON i.project_id = g.project_id AND i.month <= g.month
    GROUP BY g.project_id, g.month
),
valued AS (
    SELECT
        g.project_id,
        g.month,
        CASE WHEN g.currency = 'USD' THEN CAST(1 AS DECIMAL(38,8)) ELSE fx.usd_per_unit END AS rate,
        r.rtd_num,
        r.rev3_num,
        r.den,
        i.itd_local,
        -- (revenue to date - invoiced to date) x den, exact
        CAST(r.rtd_num AS DECIMAL(38,14)) - CAST(CAST(i.itd_local AS DECIMAL(38,12)) * r.den AS DECIMAL(38,14)) AS diff_num,
        (g.month_end - g.window_start) + 1 AS window_days
    FROM grid g
    JOIN rtd r ON r.project_id = g.project_id AND r.month = g.month
    JOIN itd i ON i.project_id = g.project_id AND i.month = g.month
    LEFT JOIN fx ON fx.currency = g.currency AND fx.month = g.month
)
SELECT
    project_id,
    month,
    CAST(CAST(rtd_num * rate AS DECIMAL(38,12)) / den AS DECIMAL(18,2)) AS revenue_to_date_usd,
    CAST(itd_local * rate AS DECIMAL(18,2))                            AS invoiced_to_date_usd,
    CAST(CAST(CASE WHEN diff_num > 0 THEN diff_num ELSE CAST(0 AS DECIMAL(38,14)) END * rate AS DECIMAL(38,12)) / den AS DECIMAL(18,2)) AS unbilled_usd,
    CAST(CAST(CASE WHEN diff_num < 0 THEN -diff_num ELSE CAST(0 AS DECIMAL(38,14)) END * rate AS DECIMAL(38,12)) / den AS DECIMAL(18,2)) AS overbilled_usd,
    -- unbilled / (rev3 / days) = unbilled_num x days / rev3_num (the denominators cancel), to 6 places
    CASE WHEN rev3_num IS NULL OR rev3_num = 0 OR diff_num IS NULL THEN CAST(NULL AS DOUBLE)
         ELSE CAST(CAST(CAST(CASE WHEN diff_num > 0 THEN diff_num ELSE CAST(0 AS DECIMAL(38,14)) END * CAST(window_days AS DECIMAL(10,0)) AS DECIMAL(38,12))
                        / CAST(rev3_num AS DECIMAL(38,6)) AS DECIMAL(18,6)) AS DOUBLE) END AS wip_days
FROM valued;
