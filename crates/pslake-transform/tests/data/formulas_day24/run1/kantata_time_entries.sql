-- id varchar, workspace_id varchar, user_id varchar, date_performed date, time_in_minutes bigint, billable boolean, approved boolean, rate_in_cents bigint, currency varchar, notes varchar, updated_at timestamp
('D1', 'W5', 'U4', '2026-01-13', 800, false, true, 0, 'USD', 'two logins, one day', '2026-01-13T00:00:00Z'),
('D2', 'W5', 'U5', '2026-01-13', 700, false, true, 0, 'USD', 'two logins, one day', '2026-01-13T00:00:00Z'),
('D3', 'W5', 'U4', '2026-01-14', 800, false, true, 0, 'USD', 'passes', '2026-01-14T00:00:00Z'),
('D4', 'W99', 'U4', '2026-01-14', 800, false, true, 0, 'USD', 'unknown workspace', '2026-01-14T00:00:00Z'),
('D5', 'W5', 'U4', '2026-01-15', 800, false, true, 0, 'USD', 'approved', '2026-01-15T00:00:00Z'),
('D6', 'W5', 'U4', '2026-01-15', 800, false, false, 0, 'USD', 'submitted', '2026-01-15T00:00:00Z')
