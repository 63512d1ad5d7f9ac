-- id varchar, tranid varchar, type varchar, trandate date, entity varchar, status varchar, currency varchar, lastmodifieddate date
('T-20', 'INV-20', 'CustInvc', '2026-02-27', 'P1', 'A', '1', '2026-02-27'),
('T-21', 'ER-21', 'ExpRept', '2026-02-20', 'E1', 'G', '1', '2026-02-20'),
('T-22', 'JE-22', 'Journal', '2026-02-25', NULL, NULL, '1', '2026-02-25')
