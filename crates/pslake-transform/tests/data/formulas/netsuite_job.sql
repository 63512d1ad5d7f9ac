-- id varchar, entityid varchar, companyname varchar, parent varchar, entitystatus varchar, jobbillingtype varchar, startdate date, projectedenddate date, currency varchar, custentity_crm_opportunity_id varchar, custentity_budget_hours double, custentity_practice varchar, lastmodifieddate date, datecreated date
('P1', 'PRJ-001', 'Acme T&M', 'C1', '2', 'TM', '2026-01-01', '2026-06-30', '1', '006A', 100, 'Data', '2026-01-01', '2026-01-12'),
('P2', 'PRJ-002', 'Acme fixed fee', 'C1', '2', 'FBI', '2026-01-01', '2026-12-31', '1', '006B', 120, 'Data', '2026-01-01', '2026-01-20'),
('P3', 'PRJ-003', 'Beta milestones', 'C2', '2', 'FBM', '2026-01-10', '2026-06-30', '4', '9001', NULL, 'Cloud', '2026-01-10', '2026-01-24'),
('P5', 'PRJ-005', 'Acme finished fixed fee', 'C1', '1', 'FBI', '2026-01-01', '2026-02-20', '1', '006D', 100, 'Data', '2026-02-20', '2025-12-22'),
('P6', 'PRJ-006', 'Beta T&M', 'C2', '2', 'TM', '2026-01-03', '2026-06-30', '4', '9002', 150, 'Data', '2026-01-03', '2026-04-01')
