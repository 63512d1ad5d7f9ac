-- DuckDB translation of sql/canonical/dim_customer.sql (materialized: table).
CREATE TABLE canonical.dim_customer AS
-- Customers are the ERP's; country and CRM account come from the linked Salesforce account.
SELECT
    c.customer_id,
    c.customer_name,
    a.account_id AS crm_account_id,
    a.country,
    c.currency
FROM staging.stg_netsuite_customer c
LEFT JOIN staging.stg_salesforce_account a
       ON a.account_id = c.sf_account_id AND NOT a.is_deleted;
