-- currency varchar, month varchar, usd_per_unit decimal(18,8), _file varchar
('EUR', '2026-01', 1.10, 'fx_rates_2026-01.csv'),
('EUR', '2026-02', 1.20, 'fx_rates_2026-02.csv'),
('EUR', '2026-03', 1.25, 'fx_rates_2026-03.csv'),
('GBP', '2026-01', 1.30, 'fx_rates_2026-01.csv'),
('EUR', '2025-10', 1.05, 'fx_rates_2025-10.csv'),
('EUR', '2025-11', 1.08, 'fx_rates_2025-11.csv')
