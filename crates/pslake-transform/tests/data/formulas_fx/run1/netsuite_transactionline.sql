-- uniquekey varchar, id varchar, transaction varchar, mainline boolean, taxline boolean, entity varchar, foreignamount decimal(18,2), memo varchar, linelastmodifieddate date
('IL9-M', '0', 'T-IL9', true, false, 'P99', 100.00, NULL, '2026-02-27'),
('IL9', '1', 'T-IL9', false, false, 'P99', -100.00, NULL, '2026-02-27'),
('IL10-M', '0', 'T-IL10', true, false, 'P1', 700.00, NULL, '2026-03-25'),
('IL10', '1', 'T-IL10', false, false, NULL, -700.00, NULL, '2026-03-25'),
('EX9-M', '0', 'T-EX9', true, false, 'E1', -30.00, NULL, '2026-02-20'),
('EX9', '1', 'T-EX9', false, false, NULL, 30.00, 'Travel', '2026-02-20'),
('EX10-M', '0', 'T-EX10', true, false, 'E1', -40.00, NULL, '2026-03-04'),
('EX10', '1', 'T-EX10', false, false, 'P7', 40.00, 'Meals', '2026-03-04'),
('EX11-M', '0', 'T-EX11', true, false, 'E1', -25.00, NULL, '2026-03-05'),
('EX11', '1', 'T-EX11', false, false, 'P7', 25.00, 'Taxi', '2026-03-05')
