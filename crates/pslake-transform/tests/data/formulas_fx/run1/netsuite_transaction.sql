-- id varchar, tranid varchar, type varchar, trandate date, entity varchar, status varchar, currency varchar, lastmodifieddate date
('T-IL9', 'INV-9', 'CustInvc', '2026-02-27', 'P99', 'A', '1', '2026-02-27'),
('T-IL10', 'INV-10', 'CustInvc', '2026-03-25', 'P1', 'A', '1', '2026-03-25'),
('T-EX9', 'ER-EX9', 'ExpRept', '2026-02-20', 'E1', 'G', '1', '2026-02-20'),
('T-EX10', 'ER-EX10', 'ExpRept', '2026-03-04', 'E1', 'G', '3', '2026-03-04'),
('T-EX11', 'ER-EX11', 'ExpRept', '2026-03-05', 'E1', 'G', '1', '2026-03-05')
