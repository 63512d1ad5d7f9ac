-- id varchar, workspace_id varchar, user_id varchar, date_performed date, time_in_minutes bigint, billable boolean, approved boolean, rate_in_cents bigint, currency varchar, notes varchar, updated_at timestamp
('T70', 'W70', 'U1', '2026-02-10', 120, true, true, 10000, 'USD', 'usd on cad', '2026-02-10T00:00:00Z'),
('T71', 'W70', 'U1', '2026-02-11', 60, true, true, 9000, 'CAD', 'cad', '2026-02-11T00:00:00Z'),
('T72', 'W70', 'U1', '2026-03-02', 60, true, true, 9000, 'CAD', 'cad, no march rate', '2026-03-02T00:00:00Z'),
('T73', 'W70', 'U1', '2026-03-03', 60, true, true, 10000, 'USD', 'usd on cad, no march cad rate', '2026-03-03T00:00:00Z'),
('T74', 'W70', 'U1', '2026-03-25', 60, true, true, 10000, 'USD', 'after as_of', '2026-03-25T00:00:00Z'),
('T75', 'W1', 'U1', '2026-02-12', 7, true, true, 10000, 'USD', 'seven minutes', '2026-02-12T00:00:00Z'),
('T80', 'W8', 'U2', '2026-02-02', 600, true, true, 10000, 'EUR', 'ff', '2026-02-02T00:00:00Z'),
('T81', 'W8', 'U2', '2026-02-03', 600, true, true, 10000, 'EUR', 'ff', '2026-02-03T00:00:00Z'),
('T82', 'W8', 'U2', '2026-02-04', 600, true, true, 10000, 'EUR', 'ff', '2026-02-04T00:00:00Z'),
('T83', 'W8', 'U2', '2026-02-05', 600, true, true, 10000, 'EUR', 'ff', '2026-02-05T00:00:00Z'),
('T84', 'W8', 'U2', '2026-02-06', 600, true, true, 10000, 'EUR', 'ff', '2026-02-06T00:00:00Z'),
('T85', 'W8', 'U2', '2026-03-02', 600, true, true, 10000, 'EUR', 'ff', '2026-03-02T00:00:00Z')
