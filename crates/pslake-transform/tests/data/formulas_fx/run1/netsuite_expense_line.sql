-- id varchar, trandate date, job varchar, category varchar, foreignamount decimal(18,2), currency varchar, lastmodifieddate date
('EX9', '2026-02-20', NULL, 'Travel', 30.00, 'USD', '2026-02-20'),
('EX10', '2026-03-04', 'P7', 'Meals', 40.00, 'CAD', '2026-03-04'),
('EX11', '2026-03-05', 'P7', 'Taxi', 25.00, 'USD', '2026-03-05')
