-- currency varchar, month varchar, usd_per_unit decimal(18,8), _file varchar
('CAD', '2026-01', 0.75, 'fx_rates_2026-01.csv'),
('CAD', '2026-02', 0.80, 'fx_rates_2026-02.csv')
