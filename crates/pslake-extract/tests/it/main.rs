//! Integration tests of the extractor against the sandbox (and small in-test servers).

/// APIs that misbehave: paginators that loop, endless pages, duplicate keys, bodies that are not
/// JSON, records of the wrong type, schema drift.
mod bad_input;
mod common;
/// Faults: retries, 401 renewals, a stream that exhausts its retries fails alone.
mod faults;
/// Incremental runs: cursors, overlap, changed records, full refresh, file drop once.
mod incremental;
/// NetSuite's JWT client assertion: signature checks, token expiry, renewal before expiry.
mod jwt;
/// NetSuite's 100,000-results cap: keyset paging lands big tables whole; without it, a clear failure.
mod keyset;
/// Every stream of the demo pipeline lands and matches the fixture files record by record.
mod landing;
/// A new REST system (Harvest-style `links.next`, Dynamics-style `@odata.nextLink`) from YAML only.
mod new_system;
/// Every paginator shape, reject rules and schema drift against an in-test server.
mod paging;
/// Deletion reconciliation: keys passes, tombstones, records back, `every`.
mod reconcile;
/// Vendor retry rules (`retry.rules`) come from the pipeline, not the code.
mod retry_rules;
/// Planted secrets appear in no log line, error, report or table.
mod secrets;
/// Nested rows (`records.unnest`): one row per element, parent fields, key, primary key, `_raw`.
mod unnest;
