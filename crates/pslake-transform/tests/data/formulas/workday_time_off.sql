-- time_off_entry_id varchar, employee_id varchar, date date, hours double, time_off_type varchar, status varchar
('TO1', 'E1', '2026-01-19', 8, 'Vacation', 'Approved'),
('TO2', 'E1', '2026-01-20', 4, 'Vacation', 'Approved'),
('TO3', 'E1', '2026-01-21', 8, 'Vacation', 'Submitted'),
('TO4', 'E1', '2026-03-24', 8, 'Vacation', 'Approved'),
('TO5', 'E2', '2026-03-25', 4, 'Vacation', 'Submitted')
