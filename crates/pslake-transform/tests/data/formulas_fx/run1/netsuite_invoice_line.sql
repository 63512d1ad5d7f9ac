-- id varchar, tranid varchar, trandate date, status varchar, job varchar, foreignamount decimal(18,2), currency varchar, lastmodifieddate date
('IL9', 'INV-9', '2026-02-27', 'A', 'P99', 100.00, 'USD', '2026-02-27'),
('IL10', 'INV-10', '2026-03-25', 'A', 'P1', 700.00, 'USD', '2026-03-25')
