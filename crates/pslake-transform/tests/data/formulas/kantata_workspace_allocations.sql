-- id varchar, workspace_resource_id varchar, start_date date, end_date date, minutes bigint, hard boolean, updated_at timestamp
('A1', 'R1', '2026-03-16', '2026-03-27', 4800, true, '2026-03-01T00:00:00Z'),
('A2', 'R2', '2026-03-23', '2026-04-03', 1200, false, '2026-03-01T00:00:00Z'),
('A3', 'R3', '2025-12-29', '2025-12-31', 600, true, '2025-12-29T00:00:00Z')
