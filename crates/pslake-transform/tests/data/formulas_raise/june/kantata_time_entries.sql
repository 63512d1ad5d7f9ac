-- id varchar, workspace_id varchar, user_id varchar, date_performed date, time_in_minutes bigint, billable boolean, approved boolean, rate_in_cents bigint, currency varchar, notes varchar, updated_at timestamp
('T30', 'W1', 'U1', '2026-06-02', 480, true, true, 15000, 'USD', 'after the raise', '2026-06-02T00:00:00Z')
