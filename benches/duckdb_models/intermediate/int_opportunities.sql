-- DuckDB translation of sql/intermediate/int_opportunities.sql (materialized: view).
CREATE VIEW intermediate.int_opportunities AS
-- Current snapshot of every CRM opportunity (Salesforce and HubSpot) in one shape, with the ERP
-- customer linked to its account (Salesforce: customer.custentity_sf_account_id = AccountId;
-- HubSpot: the deal's netsuite_customer_id).
WITH unioned AS (
    SELECT opportunity_id, source_system, account_id AS account_ref, opportunity_name, opportunity_stage,
           amount, currency, close_date, probability, booking_type, is_closed, is_won, is_removed,
           billing_type, practice, estimated_hours, start_date, end_date, parent_opportunity_id,
           modified_date
    FROM staging.stg_salesforce_opportunity
    UNION ALL
    SELECT opportunity_id, source_system, netsuite_customer_id AS account_ref, opportunity_name, opportunity_stage,
           amount, currency, close_date, probability, booking_type, is_closed, is_won, is_removed,
           billing_type, practice, estimated_hours, start_date, end_date, parent_opportunity_id,
           modified_date
    FROM staging.stg_hubspot_deals
)
SELECT u.*
FROM unioned u;
