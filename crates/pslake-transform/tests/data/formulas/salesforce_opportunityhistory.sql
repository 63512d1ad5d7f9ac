-- id varchar, opportunity_id varchar, stage_name varchar, amount decimal(18,2), probability double, close_date date, created_date timestamp, is_deleted boolean, system_modstamp timestamp
('H-A1', '006A', 'Prospecting', 1000.00, 10, '2026-01-05', '2025-10-01T09:00:00Z', false, '2025-10-01T09:00:00Z'),
('H-A2', '006A', 'Closed Won', 1000.00, 100, '2026-01-05', '2026-01-05T10:00:00Z', false, '2026-01-05T10:00:00Z'),
('H-B1', '006B', 'Negotiation/Review', 10000.00, 90, '2025-12-20', '2025-09-15T09:00:00Z', false, '2025-09-15T09:00:00Z'),
('H-B2', '006B', 'Negotiation/Review', 10000.00, 90, '2026-01-02', '2025-12-01T09:00:00Z', false, '2025-12-01T09:00:00Z'),
('H-B3', '006B', 'Closed Won', 10000.00, 100, '2026-01-02', '2026-01-02T10:00:00Z', false, '2026-01-02T10:00:00Z'),
('H-C1', '006C', 'Proposal/Price Quote', 2000.00, 60, '2026-02-15', '2026-01-20T09:00:00Z', false, '2026-01-20T09:00:00Z'),
('H-C2', '006C', 'Closed Won', 2000.00, 100, '2026-02-15', '2026-02-15T10:00:00Z', false, '2026-02-15T10:00:00Z'),
('H-D1', '006D', 'Proposal/Price Quote', 4000.00, 50, '2026-02-15', '2025-10-20T09:00:00Z', false, '2025-10-20T09:00:00Z'),
('H-D2', '006D', 'Closed Won', 4000.00, 100, '2025-12-15', '2025-12-15T10:00:00Z', false, '2025-12-15T10:00:00Z'),
('H-E1', '006E', 'Qualification', 9000.00, 20, '2026-01-15', '2025-10-15T09:00:00Z', false, '2025-10-15T09:00:00Z'),
('H-E2', '006E', 'Proposal/Price Quote', 9000.00, 50, '2026-04-30', '2026-03-01T10:00:00Z', false, '2026-03-01T10:00:00Z'),
('H-F1', '006F', 'Negotiation/Review', 5000.00, 90, '2026-01-20', '2025-10-10T09:00:00Z', true, '2026-03-01T10:00:00Z')
