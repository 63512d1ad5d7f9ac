-- id varchar, workspace_id varchar, user_id varchar, updated_at timestamp
('R1', 'W1', 'U1', '2026-03-01T00:00:00Z'),
('R2', 'W6', 'U2', '2026-03-01T00:00:00Z'),
('R3', 'W2', 'U1', '2025-12-29T00:00:00Z')
