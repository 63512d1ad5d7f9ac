-- employee_id varchar, effective_date date, practice varchar, job_profile varchar, scheduled_weekly_hours double, hourly_cost_rate decimal(18,6), cost_rate_currency varchar
('E1', '2025-01-01', 'Data', 'Consultant', 40, 50.000000, 'USD'),
('E1', '2026-06-01', 'Data', 'Senior Consultant', 40, 60.000000, 'USD'),
('E2', '2025-06-01', 'Data', 'Consultant', 20, 40.000000, 'EUR'),
('E2', '2026-01-07', 'Cloud', 'Consultant', 30, 40.000000, 'EUR')
