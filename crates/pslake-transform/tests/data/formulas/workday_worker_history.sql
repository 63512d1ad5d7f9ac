-- employee_id varchar, effective_date date, practice varchar, job_profile varchar, scheduled_weekly_hours double, hourly_cost_rate decimal(18,6), cost_rate_currency varchar
('E4', '2025-01-01', 'Data', 'Contractor', 40, 60.000000, 'USD')
