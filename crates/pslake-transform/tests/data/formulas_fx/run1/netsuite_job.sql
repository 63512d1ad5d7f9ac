-- id varchar, entityid varchar, companyname varchar, parent varchar, entitystatus varchar, jobbillingtype varchar, startdate date, projectedenddate date, currency varchar, custentity_crm_opportunity_id varchar, custentity_budget_hours double, custentity_practice varchar, lastmodifieddate date, datecreated date
('P7', 'PRJ-007', 'Acme Canada T&M', 'C1', '2', 'TM', '2026-01-01', '2026-12-31', '3', NULL, 100, 'Data', '2026-01-01', NULL),
('P8', 'PRJ-008', 'Beta fixed fee (USD deal)', 'C2', '2', 'FBI', '2026-02-01', '2026-12-31', '4', '006H', 100, 'Data', '2026-02-01', NULL)
