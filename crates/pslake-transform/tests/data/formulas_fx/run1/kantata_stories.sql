-- id varchar, workspace_id varchar, title varchar, story_type varchar, state varchar, due_date date, accepted_at timestamp, accepted_date date, billing_amount_in_cents bigint, archived boolean, deleted_at timestamp, updated_at timestamp
('S9', 'W99', 'Orphan milestone', 'milestone', 'accepted', '2026-02-15', '2026-02-16T10:00:00Z', '2026-02-16', 100000, false, NULL, '2026-02-16T10:00:00Z')
