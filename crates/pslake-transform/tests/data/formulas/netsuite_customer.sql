-- id varchar, entityid varchar, companyname varchar, custentity_sf_account_id varchar, currency varchar, lastmodifieddate date
('C1', 'CUST-1', 'Acme Corp', '001A', '1', '2025-12-01'),
('C2', 'CUST-2', 'Beta GmbH', NULL, '4', '2025-12-01')
