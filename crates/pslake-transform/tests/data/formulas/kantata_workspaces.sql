-- id varchar, title varchar, external_reference varchar, status_key bigint, status_message varchar, currency varchar, start_date date, due_date date, archived boolean, updated_at timestamp
('W1', 'Acme T&M', 'PRJ-001', 310, 'Active', 'USD', '2026-01-01', '2026-06-30', false, '2026-01-01T00:00:00Z'),
('W2', 'Acme fixed fee', 'PRJ-002', 310, 'Active', 'USD', '2026-01-01', '2026-12-31', false, '2026-01-01T00:00:00Z'),
('W3', 'Beta milestones', 'PRJ-003', 310, 'Active', 'EUR', '2026-01-10', '2026-06-30', false, '2026-01-01T00:00:00Z'),
('W5', 'Acme finished', 'PRJ-005', 410, 'Done', 'USD', '2026-01-01', '2026-02-20', true, '2026-01-01T00:00:00Z'),
('W6', 'Beta T&M', 'PRJ-006', 310, 'Active', 'EUR', '2026-01-03', '2026-06-30', false, '2026-01-01T00:00:00Z'),
('W7', 'Orphan workspace', 'PRJ-999', 310, 'Active', 'USD', '2026-01-01', '2026-06-30', false, '2026-01-01T00:00:00Z')
