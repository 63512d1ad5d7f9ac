-- id varchar, name varchar, industry varchar, billing_country varchar, currency_iso_code varchar, is_deleted boolean, system_modstamp timestamp
('001A', 'Acme Corp', 'Retail', 'US', 'USD', false, '2025-12-01T00:00:00Z'),
('001Z', 'Gone Ltd', 'Retail', 'GB', 'GBP', true, '2025-12-01T00:00:00Z')
