-- id varchar, tranid varchar, trandate date, status varchar, job varchar, foreignamount decimal(18,2), currency varchar, lastmodifieddate date
('IL1', 'INV-1', '2026-01-31', 'A', 'P1', 1500.00, 'USD', '2026-01-31'),
('IL2', 'INV-2', '2026-01-31', 'V', 'P1', 999.00, 'USD', '2026-01-31'),
('IL3', 'INV-3', '2026-02-28', 'B', 'P6', 100.00, 'EUR', '2026-02-28')
