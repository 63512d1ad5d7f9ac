-- id varchar, trandate date, job varchar, category varchar, foreignamount decimal(18,2), currency varchar, lastmodifieddate date
('EX1', '2026-01-25', 'P1', 'Travel', 200.00, 'USD', '2026-01-25'),
('EX2', '2026-02-10', 'P6', 'Travel', 50.00, 'EUR', '2026-02-10'),
('EX3', '2026-02-12', 'P1', 'Travel', 10.00, 'GBP', '2026-02-12')
