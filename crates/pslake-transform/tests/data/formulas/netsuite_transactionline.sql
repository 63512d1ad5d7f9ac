-- uniquekey varchar, id varchar, transaction varchar, mainline boolean, taxline boolean, entity varchar, foreignamount decimal(18,2), memo varchar, linelastmodifieddate date
('IL1-M', '0', 'T-IL1', true, false, 'P1', 1500.00, NULL, '2026-01-31'),
('IL1', '1', 'T-IL1', false, false, 'P1', -1500.00, NULL, '2026-01-31'),
('IL2-M', '0', 'T-IL2', true, false, 'P1', 999.00, NULL, '2026-01-31'),
('IL2', '1', 'T-IL2', false, false, NULL, -999.00, NULL, '2026-01-31'),
('IL3-M', '0', 'T-IL3', true, false, 'P6', 100.00, NULL, '2026-02-28'),
('IL3', '1', 'T-IL3', false, false, 'P6', -100.00, NULL, '2026-02-28'),
('EX1-M', '0', 'T-EX1', true, false, 'E1', -200.00, NULL, '2026-01-25'),
('EX1', '1', 'T-EX1', false, false, 'P1', 200.00, 'Travel', '2026-01-25'),
('EX2-M', '0', 'T-EX2', true, false, 'E1', -50.00, NULL, '2026-02-10'),
('EX2', '1', 'T-EX2', false, false, 'P6', 50.00, 'Travel', '2026-02-10'),
('EX3-M', '0', 'T-EX3', true, false, 'E1', -10.00, NULL, '2026-02-12'),
('EX3', '1', 'T-EX3', false, false, 'P1', 10.00, 'Travel', '2026-02-12')
