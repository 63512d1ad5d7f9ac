-- id varchar, full_name varchar, email_address varchar, external_reference varchar, updated_at timestamp
('U5', 'Di Contractor (second login)', 'di2@x.com', 'E4', '2026-01-01T00:00:00Z')
