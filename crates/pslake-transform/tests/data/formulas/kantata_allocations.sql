-- id varchar, workspace_id varchar, user_id varchar, start_date date, end_date date, minutes bigint, soft boolean, updated_at timestamp
('A1', 'W1', 'U1', '2026-03-16', '2026-03-27', 4800, false, '2026-03-01T00:00:00Z'),
('A2', 'W6', 'U2', '2026-03-23', '2026-04-03', 1200, true, '2026-03-01T00:00:00Z')
