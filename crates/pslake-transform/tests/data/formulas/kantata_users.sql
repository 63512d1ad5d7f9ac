-- id varchar, full_name varchar, email_address varchar, external_reference varchar, updated_at timestamp
('U1', 'Ada Full', 'ada@x.com', 'E1', '2026-01-01T00:00:00Z'),
('U2', 'Ben Part', 'ben@x.com', 'E2', '2026-01-01T00:00:00Z'),
('U3', 'Cy Short', 'cy@x.com', 'E3', '2026-01-01T00:00:00Z'),
('U4', 'Di Contractor', 'di@x.com', 'E4', '2026-01-01T00:00:00Z'),
('U9', 'Nobody', 'nobody@x.com', 'E99', '2026-01-01T00:00:00Z')
