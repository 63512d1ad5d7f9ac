-- id varchar, title varchar, external_reference varchar, status_key bigint, status_message varchar, currency varchar, start_date date, due_date date, archived boolean, updated_at timestamp
('W70', 'Acme Canada T&M', 'PRJ-007', 310, 'Active', 'CAD', '2026-01-01', '2026-12-31', false, '2026-01-01T00:00:00Z'),
('W8', 'Beta fixed fee', 'PRJ-008', 310, 'Active', 'EUR', '2026-02-01', '2026-12-31', false, '2026-02-01T00:00:00Z')
