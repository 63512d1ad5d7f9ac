-- employee_id varchar, worker varchar, email varchar, worker_type varchar, job_profile varchar, practice varchar, cost_center varchar, location_country varchar, hire_date date, termination_date date, scheduled_weekly_hours double, hourly_cost_rate decimal(18,6), cost_rate_currency varchar, last_updated timestamp
('E1', 'Ada Full', 'ada@x.com', 'Employee', 'Consultant', 'Data', 'CC1', 'US', '2025-01-01', NULL, 40, 50.000000, 'USD', '2026-01-01T00:00:00Z'),
('E2', 'Ben Part', 'ben@x.com', 'Employee', 'Consultant', 'Cloud', 'CC2', 'DE', '2025-06-01', NULL, 20, 40.000000, 'EUR', '2026-01-01T00:00:00Z'),
('E4', 'Di Contractor', 'di@x.com', 'Contingent Worker', 'Contractor', 'Data', 'CC1', 'US', '2025-01-01', NULL, 40, 60.000000, 'USD', '2026-01-01T00:00:00Z')
