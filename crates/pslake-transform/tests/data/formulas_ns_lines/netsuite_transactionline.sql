-- uniquekey varchar, id varchar, transaction varchar, mainline boolean, taxline boolean, entity varchar, foreignamount decimal(18,2), memo varchar, linelastmodifieddate date
('IL20-M', '0', 'T-20', true, false, 'P1', 1380.00, NULL, '2026-02-27'),
('IL20-A', '1', 'T-20', false, false, 'P1', -700.00, 'Consulting', '2026-02-27'),
('IL20-B', '2', 'T-20', false, false, NULL, -500.00, 'Workshop', '2026-02-27'),
('IL20-T', '3', 'T-20', false, true, NULL, -180.00, 'Sales tax', '2026-02-27'),
('EX21-M', '0', 'T-21', true, false, 'E1', -45.00, NULL, '2026-02-20'),
('EX21-A', '1', 'T-21', false, false, 'P1', 45.00, 'Meals', '2026-02-20'),
('JE22-A', '1', 'T-22', false, false, 'P1', 999.00, NULL, '2026-02-25')
