-- currency varchar, month varchar, usd_per_unit decimal(18,8), _file varchar
('CAD', '2026-03', 0.85, 'fx_rates_2026-03.csv'),
('GBP', '2026-03', 1.40, 'fx_rates_2026-03.csv')
