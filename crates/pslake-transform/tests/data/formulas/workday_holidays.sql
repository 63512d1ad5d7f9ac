-- country varchar, date date, holiday_name varchar
('US', '2026-01-01', 'New Year'),
('US', '2026-01-19', 'MLK Day'),
('US', '2026-05-25', 'Memorial Day'),
('DE', '2026-04-03', 'Good Friday')
