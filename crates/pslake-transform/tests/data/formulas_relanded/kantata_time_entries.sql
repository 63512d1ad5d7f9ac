-- id varchar, workspace_id varchar, user_id varchar, date_performed date, time_in_minutes bigint, billable boolean, approved boolean, rate_in_cents bigint, currency varchar, notes varchar, updated_at timestamp
('T03', 'W1', 'U1', '2026-01-20', 660, true, true, 15000, 'USD', 'tm, corrected', '2026-03-19T00:00:00Z')
