-- DuckDB translation of sql/quality/rejects_still_unlanded.sql (materialized: rejects).
CREATE TABLE quality.rejects_still_unlanded AS
-- Records rejected at landing (a value that does not parse, a missing required field) that are
-- still bad in their source: SPEC 5 says a rejected row never silently vanishes and is absent from
-- the current rejects (those of the latest run) only once it conforms. An incremental extract does
-- not re-read a record whose cursor has not moved, so the landing itself cannot re-reject it; this
-- model carries each landing reject forward into every later run until a landing of the same key
-- (a corrected record, or a reconciliation tombstone: deleted in its source) is newer than it.
-- Keys are the record's primary key as the extractor writes it (composite keys joined by `|`).
-- Only the rejected keys are looked up in raw (a semi-join on the few of them), so the cost does
-- not grow with the raw tables.
WITH rc AS (
    SELECT run_id FROM pslake.run_context
),
landing_rejects AS (
    SELECT r.*,
           row_number() OVER (PARTITION BY r.system, r.stream, r.key ORDER BY r.rejected_at DESC) AS rn
    FROM _pslake.rejects r
    WHERE r.rule IN ('unparseable_value', 'missing_required_field') AND r.key IS NOT NULL
),
-- the keys of landing_rejects, without its window (each reference below evaluates this again)
reject_keys AS (
    SELECT DISTINCT system, stream, key
    FROM _pslake.rejects
    WHERE rule IN ('unparseable_value', 'missing_required_field') AND key IS NOT NULL
),
landed AS (
    SELECT 'salesforce' AS system, 'Account' AS stream, id AS key, max(_extracted_at) AS at FROM raw.salesforce_account
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'salesforce' AND stream = 'Account') GROUP BY id
    UNION ALL SELECT 'salesforce', 'Opportunity', id, max(_extracted_at) FROM raw.salesforce_opportunity
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'salesforce' AND stream = 'Opportunity') GROUP BY id
    UNION ALL SELECT 'hubspot', 'deals', id, max(_extracted_at) FROM raw.hubspot_deals
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'hubspot' AND stream = 'deals') GROUP BY id
    UNION ALL SELECT 'netsuite', 'customer', id, max(_extracted_at) FROM raw.netsuite_customer
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'netsuite' AND stream = 'customer') GROUP BY id
    UNION ALL SELECT 'netsuite', 'job', id, max(_extracted_at) FROM raw.netsuite_job
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'netsuite' AND stream = 'job') GROUP BY id
    UNION ALL SELECT 'netsuite', 'currency', id, max(_extracted_at) FROM raw.netsuite_currency
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'netsuite' AND stream = 'currency') GROUP BY id
    UNION ALL SELECT 'netsuite', 'transaction', id, max(_extracted_at) FROM raw.netsuite_transaction
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'netsuite' AND stream = 'transaction') GROUP BY id
    UNION ALL SELECT 'netsuite', 'transactionline', uniquekey, max(_extracted_at) FROM raw.netsuite_transactionline
        WHERE uniquekey IN (SELECT key FROM reject_keys WHERE system = 'netsuite' AND stream = 'transactionline') GROUP BY uniquekey
    UNION ALL SELECT 'kantata', 'workspaces', id, max(_extracted_at) FROM raw.kantata_workspaces
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'workspaces') GROUP BY id
    UNION ALL SELECT 'kantata', 'users', id, max(_extracted_at) FROM raw.kantata_users
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'users') GROUP BY id
    UNION ALL SELECT 'kantata', 'time_entries', id, max(_extracted_at) FROM raw.kantata_time_entries
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'time_entries') GROUP BY id
    UNION ALL SELECT 'kantata', 'workspace_resources', id, max(_extracted_at) FROM raw.kantata_workspace_resources
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'workspace_resources') GROUP BY id
    UNION ALL SELECT 'kantata', 'workspace_allocations', id, max(_extracted_at) FROM raw.kantata_workspace_allocations
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'workspace_allocations') GROUP BY id
    UNION ALL SELECT 'kantata', 'stories', id, max(_extracted_at) FROM raw.kantata_stories
        WHERE id IN (SELECT key FROM reject_keys WHERE system = 'kantata' AND stream = 'stories') GROUP BY id
    UNION ALL SELECT 'workday', 'Workers', employee_id, max(_extracted_at) FROM raw.workday_workers
        WHERE employee_id IN (SELECT key FROM reject_keys WHERE system = 'workday' AND stream = 'Workers') GROUP BY employee_id
    UNION ALL SELECT 'workday', 'Time_Off', time_off_entry_id, max(_extracted_at) FROM raw.workday_time_off
        WHERE time_off_entry_id IN (SELECT key FROM reject_keys WHERE system = 'workday' AND stream = 'Time_Off') GROUP BY time_off_entry_id
)
SELECT
    r.system,
    r.stream,
    r.key,
    r.rule,
    r.field,
    r.value,
    r.message,
    r._raw
FROM landing_rejects r
CROSS JOIN rc
LEFT JOIN landed l ON l.system = r.system AND l.stream = r.stream AND l.key = r.key
WHERE r.rn = 1
  -- rejected by this run's own landing: already among this run's rejects
  AND r._run_id <> rc.run_id
  -- a landing of the key newer than the reject: it conforms now (or was deleted in its source)
  AND (l.at IS NULL OR l.at < r.rejected_at);
