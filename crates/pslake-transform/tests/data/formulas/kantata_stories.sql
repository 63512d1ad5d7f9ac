-- id varchar, workspace_id varchar, title varchar, story_type varchar, state varchar, due_date date, accepted_at timestamp, accepted_date date, billing_amount_in_cents bigint, archived boolean, deleted_at timestamp, updated_at timestamp
('S1', 'W3', 'Design signed off', 'milestone', 'accepted', '2026-02-15', '2026-02-28T23:30:00Z', '2026-02-28', 300000, false, NULL, '2026-03-01T00:00:00Z'),
('S2', 'W3', 'Build done', 'milestone', 'completed', '2026-03-15', NULL, NULL, 200000, false, NULL, '2026-03-01T00:00:00Z'),
('S3', 'W3', 'A task', 'task', 'accepted', '2026-02-15', '2026-02-10T10:00:00Z', '2026-02-10', 50000, false, NULL, '2026-03-01T00:00:00Z'),
('S4', 'W1', 'Milestone on a T&M project', 'milestone', 'accepted', '2026-02-15', '2026-02-10T10:00:00Z', '2026-02-10', 70000, false, NULL, '2026-03-01T00:00:00Z'),
('S5', 'W3', 'Design signed off (entered twice)', 'milestone', 'accepted', '2026-02-15', '2026-02-27T10:00:00Z', '2026-02-27', 250000, false, '2026-02-28T09:00:00Z', '2026-02-28T09:00:00Z')
