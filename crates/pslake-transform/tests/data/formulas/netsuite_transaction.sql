-- id varchar, tranid varchar, type varchar, trandate date, entity varchar, status varchar, currency varchar, lastmodifieddate date
('T-IL1', 'INV-1', 'CustInvc', '2026-01-31', 'P1', 'A', '1', '2026-01-31'),
('T-IL2', 'INV-2', 'CustInvc', '2026-01-31', 'P1', 'V', '1', '2026-01-31'),
('T-IL3', 'INV-3', 'CustInvc', '2026-02-28', 'P6', 'B', '4', '2026-02-28'),
('T-EX1', 'ER-EX1', 'ExpRept', '2026-01-25', 'E1', 'G', '1', '2026-01-25'),
('T-EX2', 'ER-EX2', 'ExpRept', '2026-02-10', 'E1', 'G', '4', '2026-02-10'),
('T-EX3', 'ER-EX3', 'ExpRept', '2026-02-12', 'E1', 'G', '2', '2026-02-12'),
('T-IL5', 'INV-5', 'CustInvc', '2026-01-10', 'P5', 'A', '1', '2026-01-10')
