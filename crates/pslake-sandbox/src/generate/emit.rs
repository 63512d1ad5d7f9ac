//! Vendor record shapes (exactly the fields of SPEC section 2, in each vendor's value formats)
//! and the writers of the streams that come straight from the firm model: Salesforce, HubSpot,
//! NetSuite customers and jobs, Kantata workspaces, users, workspace resources, workspace
//! allocations and stories, Workday workers and holidays.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration};
use rand::Rng;
use serde::Serialize;

use super::Result;
use super::bad_rows::{self, Deliberate};
use super::calendar::{
    add_months, as_of, history_start, holidays, hubspot_dt, iso, kantata_dt, month_start, netsuite,
    salesforce_dt, weekdays_between, workday_dt,
};
use super::firm::{Crm, Firm, Kind, Outcome, Project, hs_probability, rng_for, sf_probability};
use super::reference::{COUNTRIES, LEVELS, NS_CURRENCIES, PRACTICES, ns_currency_id};
use super::writer::JsonlWriter;

/// The offset of the firm's head office, used for Kantata timestamps of shared records.
pub(crate) const HQ_OFFSET: &str = "-05:00";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SfAccount {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) industry: String,
    pub(crate) billing_country: String,
    pub(crate) currency_iso_code: String,
    pub(crate) is_deleted: bool,
    pub(crate) system_modstamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SfOpportunity {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) name: String,
    pub(crate) stage_name: String,
    pub(crate) amount: f64,
    pub(crate) currency_iso_code: String,
    pub(crate) close_date: String,
    pub(crate) probability: f64,
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) is_closed: bool,
    pub(crate) is_won: bool,
    pub(crate) is_deleted: bool,
    #[serde(rename = "Billing_Type__c")]
    pub(crate) billing_type: String,
    #[serde(rename = "Practice__c")]
    pub(crate) practice: String,
    #[serde(rename = "Estimated_Hours__c")]
    pub(crate) estimated_hours: f64,
    #[serde(rename = "Start_Date__c")]
    pub(crate) start_date: String,
    #[serde(rename = "End_Date__c")]
    pub(crate) end_date: String,
    #[serde(rename = "Parent_Opportunity__c")]
    pub(crate) parent_opportunity: Option<String>,
    pub(crate) system_modstamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HsDeal {
    pub(crate) id: String,
    pub(crate) properties: HsDealProperties,
    /// SPEC section 4b; the sandbox serves it only to a request that asks for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) properties_with_history: Option<HsDealHistory>,
    pub(crate) archived: bool,
    pub(crate) updated_at: String,
}

/// A deal's `propertiesWithHistory`: each property's values, newest first.
#[derive(Serialize, Default)]
pub(crate) struct HsDealHistory {
    pub(crate) dealstage: Vec<HsHistoryEntry>,
    pub(crate) amount: Vec<HsHistoryEntry>,
    pub(crate) closedate: Vec<HsHistoryEntry>,
    pub(crate) hs_deal_stage_probability: Vec<HsHistoryEntry>,
}

/// One value a property had, from `timestamp` on.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HsHistoryEntry {
    pub(crate) value: String,
    pub(crate) timestamp: String,
    pub(crate) source_type: String,
}

/// Salesforce `OpportunityHistory` (SPEC section 4b): the opportunity as it stood from
/// `CreatedDate` on.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SfOpportunityHistory {
    pub(crate) id: String,
    pub(crate) opportunity_id: String,
    pub(crate) stage_name: String,
    pub(crate) amount: f64,
    pub(crate) probability: f64,
    pub(crate) close_date: String,
    pub(crate) created_date: String,
    pub(crate) is_deleted: bool,
    pub(crate) system_modstamp: String,
}

#[derive(Serialize)]
pub(crate) struct HsDealProperties {
    pub(crate) dealname: String,
    pub(crate) dealstage: String,
    pub(crate) amount: String,
    pub(crate) deal_currency_code: String,
    pub(crate) closedate: String,
    pub(crate) hs_is_closed_won: String,
    pub(crate) hs_deal_stage_probability: String,
    pub(crate) dealtype: String,
    pub(crate) billing_type: String,
    pub(crate) practice: String,
    pub(crate) estimated_hours: String,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    pub(crate) parent_deal_id: String,
    pub(crate) netsuite_customer_id: String,
    pub(crate) hs_lastmodifieddate: String,
}

#[derive(Serialize)]
pub(crate) struct NsCustomer {
    pub(crate) id: String,
    pub(crate) entityid: String,
    pub(crate) companyname: String,
    pub(crate) custentity_sf_account_id: String,
    pub(crate) currency: String,
    pub(crate) lastmodifieddate: String,
}

#[derive(Serialize)]
pub(crate) struct NsJob {
    pub(crate) id: String,
    pub(crate) entityid: String,
    pub(crate) companyname: String,
    pub(crate) parent: String,
    pub(crate) entitystatus: String,
    pub(crate) jobbillingtype: String,
    pub(crate) startdate: String,
    pub(crate) projectedenddate: String,
    pub(crate) currency: String,
    pub(crate) custentity_crm_opportunity_id: String,
    pub(crate) custentity_budget_hours: String,
    pub(crate) custentity_practice: String,
    /// When the job was set up (SPEC section 4b).
    pub(crate) datecreated: String,
    pub(crate) lastmodifieddate: String,
}

#[derive(Serialize)]
pub(crate) struct NsCurrency {
    pub(crate) id: String,
    pub(crate) symbol: String,
    pub(crate) name: String,
}

#[derive(Serialize)]
pub(crate) struct KtStatus {
    pub(crate) key: i64,
    pub(crate) message: String,
    pub(crate) color: String,
}

#[derive(Serialize)]
pub(crate) struct KtWorkspace {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) external_reference: String,
    pub(crate) status: KtStatus,
    pub(crate) currency: String,
    pub(crate) start_date: String,
    pub(crate) due_date: String,
    /// A closed project's workspace, archived: the API leaves it (and its time entries) out
    /// unless asked with `include_archived` (`from_archived_workspaces`).
    pub(crate) archived: bool,
    pub(crate) updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct KtUser {
    pub(crate) id: String,
    pub(crate) full_name: String,
    pub(crate) email_address: String,
    pub(crate) external_reference: String,
    pub(crate) updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct KtTimeEntry<'a> {
    pub(crate) id: String,
    pub(crate) workspace_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) date_performed: String,
    pub(crate) time_in_minutes: i64,
    pub(crate) billable: bool,
    pub(crate) approved: bool,
    pub(crate) rate_in_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) notes: &'a str,
    pub(crate) updated_at: String,
}

/// A person's seat on a workspace (Kantata `workspace_resources`).
#[derive(Serialize)]
pub(crate) struct KtWorkspaceResource {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) user_id: String,
    pub(crate) updated_at: String,
}

/// Kantata `workspace_allocations`: minutes over a date range on a workspace resource; `hard`
/// false is a tentative (soft) allocation.
#[derive(Serialize)]
pub(crate) struct KtWorkspaceAllocation {
    pub(crate) id: String,
    pub(crate) workspace_resource_id: String,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    pub(crate) minutes: i64,
    pub(crate) hard: bool,
    pub(crate) updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct KtStory {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) title: String,
    pub(crate) story_type: String,
    pub(crate) state: String,
    pub(crate) due_date: String,
    pub(crate) accepted_at: Option<String>,
    pub(crate) billing_amount_in_cents: Option<i64>,
    pub(crate) archived: bool,
    /// Set on a deleted story (listed only with `show_deleted`); a deleted story is no revenue.
    pub(crate) deleted_at: Option<String>,
    pub(crate) updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct WdWorker {
    #[serde(rename = "Employee_ID")]
    pub(crate) employee_id: String,
    #[serde(rename = "Worker")]
    pub(crate) worker: String,
    #[serde(rename = "Email")]
    pub(crate) email: String,
    #[serde(rename = "Worker_Type")]
    pub(crate) worker_type: String,
    #[serde(rename = "Job_Profile")]
    pub(crate) job_profile: String,
    #[serde(rename = "Practice")]
    pub(crate) practice: String,
    #[serde(rename = "Cost_Center")]
    pub(crate) cost_center: String,
    #[serde(rename = "Location_Country")]
    pub(crate) location_country: String,
    #[serde(rename = "Hire_Date")]
    pub(crate) hire_date: String,
    #[serde(rename = "Termination_Date")]
    pub(crate) termination_date: String,
    #[serde(rename = "Scheduled_Weekly_Hours")]
    pub(crate) scheduled_weekly_hours: String,
    #[serde(rename = "Hourly_Cost_Rate")]
    pub(crate) hourly_cost_rate: String,
    #[serde(rename = "Cost_Rate_Currency")]
    pub(crate) cost_rate_currency: String,
    #[serde(rename = "Last_Updated")]
    pub(crate) last_updated: String,
}

/// Workday `Worker_History` (SPEC section 4b): a version of a worker, effective from its date.
#[derive(Serialize)]
pub(crate) struct WdWorkerHistory {
    #[serde(rename = "Employee_ID")]
    pub(crate) employee_id: String,
    #[serde(rename = "Effective_Date")]
    pub(crate) effective_date: String,
    #[serde(rename = "Practice")]
    pub(crate) practice: String,
    #[serde(rename = "Job_Profile")]
    pub(crate) job_profile: String,
    #[serde(rename = "Scheduled_Weekly_Hours")]
    pub(crate) scheduled_weekly_hours: String,
    #[serde(rename = "Hourly_Cost_Rate")]
    pub(crate) hourly_cost_rate: String,
    #[serde(rename = "Cost_Rate_Currency")]
    pub(crate) cost_rate_currency: String,
}

#[derive(Serialize)]
pub(crate) struct WdTimeOff {
    #[serde(rename = "Time_Off_Entry_ID")]
    pub(crate) time_off_entry_id: String,
    #[serde(rename = "Employee_ID")]
    pub(crate) employee_id: String,
    #[serde(rename = "Date")]
    pub(crate) date: String,
    #[serde(rename = "Hours")]
    pub(crate) hours: String,
    #[serde(rename = "Time_Off_Type")]
    pub(crate) time_off_type: String,
    #[serde(rename = "Status")]
    pub(crate) status: String,
}

#[derive(Serialize)]
pub(crate) struct WdHoliday {
    #[serde(rename = "Country")]
    pub(crate) country: String,
    #[serde(rename = "Date")]
    pub(crate) date: String,
    #[serde(rename = "Holiday_Name")]
    pub(crate) holiday_name: String,
}

/// A decimal number without trailing zeros: `8`, `7.5`, `1234.25`.
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Kantata `status` of a NetSuite `entitystatus`.
pub(crate) fn kantata_status(entitystatus: u8) -> KtStatus {
    let (key, message, color) = match entitystatus {
        1 => (410, "Completed", "blue"),
        2 => (310, "In Progress", "green"),
        3 => (430, "Cancelled", "red"),
        4 => (100, "Estimate", "gray"),
        5 => (110, "Not Started", "light_green"),
        _ => (340, "On Hold", "yellow"),
    };
    KtStatus {
        key,
        message: message.to_owned(),
        color: color.to_owned(),
    }
}

/// Writes every stream that comes straight from the model.
pub(crate) fn write_reference_streams(
    firm: &Firm,
    dir: &Path,
    bad_rows: bool,
    deliberate: &mut Vec<Deliberate>,
) -> Result<Vec<(PathBuf, u64)>> {
    let mut files = vec![
        write_salesforce_accounts(firm, dir)?,
        write_salesforce_opportunities(firm, dir, deliberate)?,
        super::history::write_opportunity_history(firm, dir)?,
        write_hubspot_deals(firm, dir)?,
        write_netsuite_currencies(dir)?,
        write_netsuite_customers(firm, dir)?,
        write_netsuite_jobs(firm, dir)?,
    ];
    files.push(write_workspaces(firm, dir, bad_rows, deliberate)?);
    files.push(write_users(firm, dir, bad_rows, deliberate)?);
    files.extend(write_allocations(firm, dir)?);
    files.push(write_stories(firm, dir)?);
    files.push(write_workers(firm, dir)?);
    files.push(super::history::write_worker_history(firm, dir)?);
    files.push(write_holidays(dir)?);
    Ok(files)
}

fn write_salesforce_accounts(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "salesforce", "Account")?;
    for c in &firm.clients {
        let Some(id) = &c.sf_account else { continue };
        w.write(&SfAccount {
            id: id.clone(),
            name: c.name.clone(),
            industry: c.industry.to_owned(),
            billing_country: c.country.to_owned(),
            currency_iso_code: c.currency.to_owned(),
            is_deleted: false,
            system_modstamp: salesforce_dt(c.modified, 9 * 3600 + 1234),
        })?;
    }
    w.finish()
}

fn write_salesforce_opportunities(
    firm: &Firm,
    dir: &Path,
    deliberate: &mut Vec<Deliberate>,
) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "salesforce", "Opportunity")?;
    for (i, o) in firm.opps.iter().enumerate() {
        if o.crm != Crm::Salesforce {
            continue;
        }
        let c = &firm.clients[o.client];
        let probability = sf_probability(o.outcome);
        w.write(&SfOpportunity {
            id: o.id.clone(),
            account_id: c.sf_account.clone().unwrap_or_default(),
            name: o.name.clone(),
            stage_name: o.stage().to_owned(),
            amount: o.amount,
            currency_iso_code: c.currency.to_owned(),
            close_date: iso(o.close),
            probability,
            kind: match o.kind {
                Kind::NewBusiness => "New Business",
                Kind::ChangeOrder => "Change Order",
                Kind::Renewal => "Renewal",
            }
            .to_owned(),
            is_closed: !matches!(o.outcome, Outcome::Open(_)),
            is_won: o.outcome == Outcome::Won,
            is_deleted: o.removed,
            billing_type: o.billing.salesforce().to_owned(),
            practice: PRACTICES[o.practice].name.to_owned(),
            estimated_hours: o.est_hours,
            start_date: iso(o.start),
            end_date: iso(o.end),
            parent_opportunity: o.parent.map(|p| firm.opps[p].id.clone()),
            system_modstamp: salesforce_dt(o.modified, o.mod_secs),
        })?;
        if firm.won_without_project == Some(i) {
            deliberate.push(Deliberate::new(
                "salesforce",
                "Opportunity",
                &o.id,
                "warning: won booking with no ERP project after 30 days",
                "Closed Won new business 75 days before as_of; no NetSuite job links to it",
            ));
        }
    }
    w.finish()
}

fn write_hubspot_deals(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "hubspot", "deals")?;
    for (oi, o) in firm.opps.iter().enumerate() {
        if o.crm != Crm::HubSpot {
            continue;
        }
        let c = &firm.clients[o.client];
        let probability = hs_probability(o.outcome);
        let modified = hubspot_dt(o.modified, o.mod_secs, o.mod_secs % 1000);
        w.write(&HsDeal {
            id: o.id.clone(),
            properties: HsDealProperties {
                dealname: o.name.clone(),
                dealstage: o.stage().to_owned(),
                amount: format!("{:.2}", o.amount),
                deal_currency_code: c.currency.to_owned(),
                closedate: hubspot_dt(o.close, 0, 0),
                hs_is_closed_won: (o.outcome == Outcome::Won).to_string(),
                hs_deal_stage_probability: probability.to_owned(),
                dealtype: match o.kind {
                    Kind::NewBusiness => "newbusiness",
                    Kind::ChangeOrder => "changeorder",
                    Kind::Renewal => "renewal",
                }
                .to_owned(),
                billing_type: o.billing.hubspot().to_owned(),
                practice: PRACTICES[o.practice].name.to_owned(),
                estimated_hours: num(o.est_hours),
                start_date: iso(o.start),
                end_date: iso(o.end),
                parent_deal_id: o
                    .parent
                    .map(|p| firm.opps[p].id.clone())
                    .unwrap_or_default(),
                netsuite_customer_id: c.ns_id.clone().unwrap_or_default(),
                hs_lastmodifieddate: modified.clone(),
            },
            properties_with_history: Some(super::history::hs_history(
                &super::history::opp_history(firm, oi),
            )),
            archived: o.removed,
            updated_at: modified,
        })?;
    }
    w.finish()
}

fn write_netsuite_currencies(dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "netsuite", "currency")?;
    for (id, symbol, name) in NS_CURRENCIES {
        w.write(&NsCurrency {
            id: (*id).to_owned(),
            symbol: (*symbol).to_owned(),
            name: (*name).to_owned(),
        })?;
    }
    w.finish()
}

fn write_netsuite_customers(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "netsuite", "customer")?;
    for c in &firm.clients {
        let Some(id) = &c.ns_id else { continue };
        w.write(&NsCustomer {
            id: id.clone(),
            entityid: c.ns_entity.clone(),
            companyname: c.name.clone(),
            custentity_sf_account_id: c.sf_account.clone().unwrap_or_default(),
            currency: ns_currency_id(c.currency),
            lastmodifieddate: netsuite(c.modified),
        })?;
    }
    w.finish()
}

/// The NetSuite job record of a project.
pub(crate) fn job_record(firm: &Firm, p: &Project) -> NsJob {
    let client = &firm.clients[p.client];
    NsJob {
        id: p.job_id.clone(),
        entityid: p.code.clone(),
        companyname: p.name.clone(),
        parent: client.ns_id.clone().unwrap_or_default(),
        entitystatus: p.status.to_string(),
        jobbillingtype: p.billing.netsuite().to_owned(),
        startdate: netsuite(p.start),
        projectedenddate: netsuite(p.end),
        currency: ns_currency_id(p.currency),
        custentity_crm_opportunity_id: p.opp.map(|o| firm.opps[o].id.clone()).unwrap_or_default(),
        custentity_budget_hours: p.budget_hours.map(num).unwrap_or_default(),
        custentity_practice: PRACTICES[p.practice].name.to_owned(),
        datecreated: netsuite(p.created),
        lastmodifieddate: netsuite(p.modified.max(p.created).min(as_of())),
    }
}

fn write_netsuite_jobs(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "netsuite", "job")?;
    for p in &firm.projects {
        w.write(&job_record(firm, p))?;
    }
    w.finish()
}

fn write_workspaces(
    firm: &Firm,
    dir: &Path,
    bad_rows: bool,
    deliberate: &mut Vec<Deliberate>,
) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "kantata", "workspaces")?;
    for p in &firm.projects {
        w.write(&KtWorkspace {
            id: p.workspace_id.clone(),
            title: p.name.clone(),
            external_reference: p.code.clone(),
            status: kantata_status(p.status),
            currency: p.currency.to_owned(),
            start_date: iso(p.start),
            due_date: iso(p.end),
            archived: workspace_archived(p),
            updated_at: kantata_dt(p.modified.min(as_of()), 10 * 3600, HQ_OFFSET),
        })?;
    }
    if bad_rows {
        w.write(&KtWorkspace {
            id: bad_rows::ORPHAN_WORKSPACE.to_owned(),
            title: "Orphan - Discovery Sprint".to_owned(),
            external_reference: bad_rows::UNKNOWN_PROJECT_CODE.to_owned(),
            status: kantata_status(2),
            currency: "USD".to_owned(),
            start_date: iso(history_start()),
            due_date: iso(as_of()),
            archived: false,
            updated_at: kantata_dt(history_start(), 10 * 3600, HQ_OFFSET),
        })?;
        deliberate.push(Deliberate::new(
            "kantata",
            "workspaces",
            bad_rows::ORPHAN_WORKSPACE,
            "(support row)",
            "workspace whose external_reference PRJ-99999 is no NetSuite job",
        ));
    }
    w.finish()
}

fn write_users(
    firm: &Firm,
    dir: &Path,
    bad_rows: bool,
    deliberate: &mut Vec<Deliberate>,
) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "kantata", "users")?;
    for e in &firm.employees {
        w.write(&KtUser {
            id: e.user_id.clone(),
            full_name: e.name(),
            email_address: e.email.clone(),
            external_reference: e.id.clone(),
            updated_at: kantata_dt(e.last_updated, 11 * 3600, COUNTRIES[e.country].offset),
        })?;
    }
    if bad_rows {
        w.write(&KtUser {
            id: bad_rows::UNMATCHED_USER.to_owned(),
            full_name: "Temp Contractor".to_owned(),
            email_address: "temp.contractor@example.com".to_owned(),
            external_reference: bad_rows::UNKNOWN_EMPLOYEE_ID.to_owned(),
            updated_at: kantata_dt(history_start(), 11 * 3600, HQ_OFFSET),
        })?;
        deliberate.push(Deliberate::new(
            "kantata",
            "users",
            bad_rows::UNMATCHED_USER,
            "(support row)",
            "user whose external_reference 109999 is no Workday Employee_ID",
        ));
    }
    w.finish()
}

/// Whether a project's Kantata workspace is archived: closed (`entitystatus` 1) and due more
/// than 90 days before `as_of`. Its records stay as they are; the API only hides them.
pub(crate) fn workspace_archived(p: &Project) -> bool {
    p.status == 1 && p.end <= as_of() - Duration::days(90)
}

/// The first id of the deleted duplicate milestones (see [`write_stories`]).
pub(crate) const FIRST_DELETED_STORY: u64 = 702_990_001;

/// How many deleted duplicate milestones [`write_stories`] adds.
const DELETED_STORIES: usize = 2;

/// Kantata `workspace_resources` (one seat per project team member) and `workspace_allocations`
/// on them (monthly chunks of the member's share; `hard` false is tentative).
fn write_allocations(firm: &Firm, dir: &Path) -> Result<[(PathBuf, u64); 2]> {
    let mut res = JsonlWriter::create(dir, "kantata", "workspace_resources")?;
    let mut w = JsonlWriter::create(dir, "kantata", "workspace_allocations")?;
    let mut next = 61_000_001u64;
    let mut next_resource = 71_000_001u64;
    let horizon = as_of() + Duration::weeks(26);
    let mut pre_win = Vec::new();
    for (pi, p) in firm.projects.iter().enumerate() {
        if p.internal {
            continue;
        }
        let mut rng = rng_for(firm.seed, "allocations", pi as u64);
        for (k, m) in p.team.iter().enumerate() {
            let e = &firm.employees[m.emp];
            let resource_id = next_resource.to_string();
            next_resource += 1;
            if k == 0 {
                pre_win.push((pi, resource_id.clone()));
            }
            let seated = (m.start - Duration::days(21)).min(as_of());
            res.write(&KtWorkspaceResource {
                id: resource_id.clone(),
                workspace_id: p.workspace_id.clone(),
                user_id: e.user_id.clone(),
                updated_at: kantata_dt(seated, 14 * 3600, HQ_OFFSET),
            })?;
            let from = m.start.max(history_start());
            let to = m.end.min(horizon);
            let mut chunk = month_start(from);
            while chunk <= to {
                let a = chunk.max(from);
                let next_month = add_months(chunk, 1);
                let b = (next_month - Duration::days(1)).min(to);
                chunk = next_month;
                let days = weekdays_between(a, b);
                if days == 0 {
                    continue;
                }
                let minutes = ((days as f64 * e.day_hours() * m.share * 4.0).round() as i64) * 15;
                let soft = match p.status {
                    3 | 4 => true,
                    _ if a > as_of() => rng.random_bool(0.3),
                    _ => rng.random_bool(0.03),
                };
                let updated = (a - Duration::days(rng.random_range(3..21))).min(as_of());
                w.write(&KtWorkspaceAllocation {
                    id: next.to_string(),
                    workspace_resource_id: resource_id.clone(),
                    start_date: iso(a),
                    end_date: iso(b),
                    minutes,
                    hard: !soft,
                    updated_at: kantata_dt(updated, 14 * 3600 + 1800, HQ_OFFSET),
                })?;
                next += 1;
            }
        }
    }
    write_pre_win_allocations(firm, &mut w, &pre_win)?;
    Ok([res.finish()?, w.finish()?])
}

/// The first id of the allocations made before a win (see [`write_pre_win_allocations`]).
const FIRST_PRE_WIN_ALLOCATION: u64 = 68_000_001;

/// Some projects are staffed before their opportunity is won (SPEC section 4b): about a quarter
/// of the won new business closed in the window (at least one) gets a hard allocation of its
/// first team member's seat (`seats`: project and resource id) over the one to three weeks
/// before the close date. They come after every other allocation, with ids from
/// [`FIRST_PRE_WIN_ALLOCATION`], so the others keep theirs; they end before `as_of`, so no
/// capacity plan counts them.
fn write_pre_win_allocations(
    firm: &Firm,
    w: &mut JsonlWriter,
    seats: &[(usize, String)],
) -> Result<()> {
    let eligible: Vec<&(usize, String)> = seats
        .iter()
        .filter(|(pi, _)| {
            let p = &firm.projects[*pi];
            p.opp.is_some_and(|oi| {
                let o = &firm.opps[oi];
                o.kind == Kind::NewBusiness && o.close >= history_start() + Duration::days(30)
            })
        })
        .collect();
    let mut chosen: Vec<&(usize, String)> = eligible
        .iter()
        .copied()
        .filter(|(pi, _)| rng_for(firm.seed, "pre-win-staffing", *pi as u64).random_bool(0.25))
        .collect();
    if chosen.is_empty() {
        chosen.extend(eligible.first().copied());
    }
    for (n, (pi, resource_id)) in chosen.into_iter().enumerate() {
        let p = &firm.projects[*pi];
        let close = firm.opps[p.opp.expect("eligible projects have one")].close;
        let mut rng = rng_for(firm.seed, "pre-win-allocation", *pi as u64);
        let start = close - Duration::days(rng.random_range(7..=21));
        let end = close - Duration::days(1);
        let e = &firm.employees[p.team[0].emp];
        let days = weekdays_between(start, end).max(1);
        let minutes = ((days as f64 * e.day_hours() * 0.5 * 4.0).round() as i64).max(1) * 15;
        w.write(&KtWorkspaceAllocation {
            id: (FIRST_PRE_WIN_ALLOCATION + n as u64).to_string(),
            workspace_resource_id: resource_id.clone(),
            start_date: iso(start),
            end_date: iso(end),
            minutes,
            hard: true,
            updated_at: kantata_dt(start - Duration::days(2), 14 * 3600 + 1800, HQ_OFFSET),
        })?;
    }
    Ok(())
}

/// Every story of the firm (archived with their workspace), then a few deleted ones: on the
/// first [`DELETED_STORIES`] projects with an accepted billing milestone, a copy of that milestone
/// entered twice and deleted the next day (`deleted_at` set, ids from [`FIRST_DELETED_STORY`]).
/// A deleted story is no revenue (SPEC section 2), so they change no canonical number.
fn write_stories(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "kantata", "stories")?;
    let record = |s: &super::firm::Story| {
        let p = &firm.projects[s.project];
        KtStory {
            id: s.id.to_string(),
            workspace_id: p.workspace_id.clone(),
            title: s.title.clone(),
            story_type: if s.milestone { "milestone" } else { "task" }.to_owned(),
            state: s.state.to_owned(),
            due_date: iso(s.due),
            accepted_at: s.accepted.map(|d| kantata_dt(d, 15 * 3600, HQ_OFFSET)),
            billing_amount_in_cents: s.billing_cents,
            archived: workspace_archived(p),
            deleted_at: None,
            updated_at: kantata_dt(s.modified, 16 * 3600, HQ_OFFSET),
        }
    };
    for s in &firm.stories {
        w.write(&record(s))?;
    }
    let mut seen = Vec::new();
    let mut next = FIRST_DELETED_STORY;
    for s in &firm.stories {
        if seen.len() == DELETED_STORIES {
            break;
        }
        let Some(accepted) = s.accepted else {
            continue;
        };
        let billing = s.billing_cents.is_some_and(|c| c > 0);
        if !s.milestone || !billing || seen.contains(&s.project) || accepted >= as_of() {
            continue;
        }
        seen.push(s.project);
        let deleted = accepted + Duration::days(1);
        let mut r = record(s);
        r.id = next.to_string();
        r.title = format!("{} (entered twice)", s.title);
        r.deleted_at = Some(kantata_dt(deleted, 9 * 3600, HQ_OFFSET));
        r.updated_at = kantata_dt(deleted, 9 * 3600, HQ_OFFSET);
        w.write(&r)?;
        next += 1;
    }
    w.finish()
}

fn write_workers(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "workday", "Workers")?;
    for e in &firm.employees {
        w.write(&WdWorker {
            employee_id: e.id.clone(),
            worker: e.name(),
            email: e.email.clone(),
            worker_type: if e.contingent {
                "Contingent Worker"
            } else {
                "Employee"
            }
            .to_owned(),
            job_profile: LEVELS[e.level].profile.to_owned(),
            practice: PRACTICES[e.practice].name.to_owned(),
            cost_center: PRACTICES[e.practice].cost_center.to_owned(),
            location_country: COUNTRIES[e.country].code.to_owned(),
            hire_date: iso(e.hire),
            termination_date: e.term.map(iso).unwrap_or_default(),
            scheduled_weekly_hours: num(e.weekly_hours),
            hourly_cost_rate: format!("{:.2}", e.cost_rate),
            cost_rate_currency: e.currency().to_owned(),
            last_updated: workday_dt(e.last_updated, 9 * 3600 + 15 * 60),
        })?;
    }
    w.finish()
}

/// Years covered by the holiday report: the window plus the capacity-plan horizon.
pub(crate) fn holiday_years() -> std::ops::RangeInclusive<i32> {
    history_start().year()..=(as_of() + Duration::weeks(26)).year()
}

fn write_holidays(dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "workday", "Holidays")?;
    for c in COUNTRIES {
        for y in holiday_years() {
            for (d, name) in holidays(c.code, y) {
                w.write(&WdHoliday {
                    country: c.code.to_owned(),
                    date: iso(d),
                    holiday_name: name.to_owned(),
                })?;
            }
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_without_trailing_zeros() {
        assert_eq!(num(8.0), "8");
        assert_eq!(num(7.5), "7.5");
        assert_eq!(num(1234.25), "1234.25");
    }

    #[test]
    fn kantata_status_keys() {
        assert_eq!(kantata_status(2).color, "green");
        assert_eq!(kantata_status(1).message, "Completed");
    }
}
