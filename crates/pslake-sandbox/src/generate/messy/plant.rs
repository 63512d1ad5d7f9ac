//! The planted records of the messy set: what run 1 adds to the generated streams, and how runs 2
//! and 3 change or delete them.
//!
//! Every planted record has a fixed id. The records they hang on (the host project, the parent
//! opportunities, the employee) are picked by fixed rules in [`Cast::pick`], so they depend on the
//! seed and the scale only through the firm those rules pick from.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use super::Planted;
use crate::generate::bad_rows::UNKNOWN_WORKSPACE;
use crate::generate::calendar::{as_of, hubspot_dt, iso, kantata_dt, netsuite, salesforce_dt, ymd};
use crate::generate::emit::{
    HQ_OFFSET, HsDeal, HsDealProperties, KtStory, KtTimeEntry, NsExpenseLine, NsInvoiceLine,
    SfOpportunity, num,
};
use crate::generate::firm::{Billing, Crm, Firm, Kind, Opp, Outcome, Project, base_fx, sf_id};
use crate::generate::reference::PRACTICES;
use crate::generate::writer::JsonlWriter;
use crate::generate::{Error, Result};

/// A NetSuite job id that no job has.
pub const UNKNOWN_JOB: &str = "298001";

/// A change a later run makes to one record of a stream file.
#[derive(Debug, Clone)]
pub(super) enum Change {
    /// Fields (JSON pointers) of record `id` take new values; the cursor field is among them.
    Set {
        system: &'static str,
        stream: &'static str,
        id: String,
        fields: Vec<(&'static str, Value)>,
    },
    /// Record `id` was deleted in the source: it is absent from the overlaid file.
    Delete {
        system: &'static str,
        stream: &'static str,
        id: String,
    },
}

impl Change {
    pub(super) fn stream(&self) -> (&'static str, &'static str) {
        match self {
            Change::Set { system, stream, .. } | Change::Delete { system, stream, .. } => {
                (system, stream)
            }
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Change::Set { id, .. } | Change::Delete { id, .. } => id,
        }
    }
}

/// What [`plant`] wrote into run 1 and what runs 2 and 3 change.
pub(super) struct Plan {
    /// Stream files appended to, with the number of records appended.
    pub(super) appended: Vec<(PathBuf, u64)>,
    pub(super) planted: Vec<Planted>,
    /// Changes of run 2 and run 3 (besides the treasury file, handled by the caller).
    pub(super) runs: [Vec<Change>; 2],
}

/// The existing records the planted ones hang on.
pub(super) struct Cast {
    /// An active time-and-materials project: host of the planted entries and ERP lines.
    tm: usize,
    /// A milestone project: host of the milestone accepted after `as_of`.
    milestone: usize,
    /// Won Salesforce and HubSpot new business whose projects take the planted change orders.
    sf_parent: usize,
    hs_parent: usize,
    /// Employee 0: employed throughout the window, in the US (cost in USD).
    employee: usize,
}

impl Cast {
    /// The host project is the first active (status 2) time-and-materials project that records
    /// time; the milestone host the first milestone project that records time (active first);
    /// each parent the first won, not removed new business of its CRM whose project is active
    /// and started before June 2026 (then: active; then: any project).
    pub(super) fn pick(firm: &Firm) -> Result<Self> {
        let ext = |p: &Project| !p.internal && p.logs_time;
        let first = |pred: &dyn Fn(&Project) -> bool| firm.projects.iter().position(pred);
        let tm = first(&|p| ext(p) && p.status == 2 && p.billing == Billing::TimeAndMaterials)
            .or_else(|| first(&|p| ext(p) && p.billing == Billing::TimeAndMaterials))
            .or_else(|| first(&ext))
            .ok_or_else(|| {
                Error::Messy("the firm has no client project that records time".into())
            })?;
        let milestone = first(&|p| ext(p) && p.status == 2 && p.billing == Billing::Milestone)
            .or_else(|| first(&|p| ext(p) && p.billing == Billing::Milestone))
            .unwrap_or(tm);
        let parent = |crm: Crm| -> Result<usize> {
            let won = |o: &Opp| {
                o.crm == crm
                    && o.outcome == Outcome::Won
                    && o.kind == Kind::NewBusiness
                    && !o.removed
                    && o.project.is_some()
            };
            let active = |o: &Opp| o.project.is_some_and(|p| firm.projects[p].status == 2);
            // Started before the first planted change order closes (2026-06-10).
            let early = |o: &Opp| {
                o.project
                    .is_some_and(|p| firm.projects[p].start < ymd(2026, 6, 1))
            };
            firm.opps
                .iter()
                .position(|o| won(o) && active(o) && early(o))
                .or_else(|| firm.opps.iter().position(|o| won(o) && active(o)))
                .or_else(|| firm.opps.iter().position(won))
                .ok_or_else(|| Error::Messy(format!("no won {crm:?} new business with a project")))
        };
        Ok(Self {
            tm,
            milestone,
            sf_parent: parent(Crm::Salesforce)?,
            hs_parent: parent(Crm::HubSpot)?,
            employee: 0,
        })
    }
}

/// A currency other than `c`, never USD: what the cross-currency records are in.
fn cross(c: &str) -> &'static str {
    if c == "EUR" { "GBP" } else { "EUR" }
}

/// `c`, or EUR when `c` is USD: a currency that needs a treasury rate.
fn non_usd(c: &'static str) -> &'static str {
    if c == "USD" { "EUR" } else { c }
}

/// A round amount in `currency` worth about `usd`.
fn money(usd: f64, currency: &str) -> f64 {
    ((usd / base_fx(currency)) / 100.0).round().max(1.0) * 100.0
}

/// A bill rate in cents of `currency` worth about `usd` an hour.
fn rate_cents(usd: f64, currency: &str) -> i64 {
    (usd / base_fx(currency)).round() as i64 * 100
}

/// The cursor stamps of runs 2 and 3: on the `as_of` date, after every cursor of run 1.
fn sf_stamp(run: usize) -> String {
    salesforce_dt(as_of(), (19 + run as u32) * 3600)
}

fn hs_stamp(run: usize) -> String {
    hubspot_dt(as_of(), (19 + run as u32) * 3600, 0)
}

fn planted(system: &str, stream: &str, id: &str, what: String, runs: [&str; 3]) -> Planted {
    Planted {
        system: system.to_owned(),
        stream: stream.to_owned(),
        id: id.to_owned(),
        what,
        runs: runs.map(str::to_owned),
    }
}

/// Appends the planted records of run 1 to the generated streams in `dir` and returns what the
/// later runs change.
pub(super) fn plant(firm: &Firm, cast: &Cast, dir: &Path) -> Result<Plan> {
    let mut plan = Plan {
        appended: Vec::new(),
        planted: Vec::new(),
        runs: [Vec::new(), Vec::new()],
    };
    time_entries(firm, cast, dir, &mut plan)?;
    ledger_lines(firm, cast, dir, &mut plan)?;
    stories(firm, cast, dir, &mut plan)?;
    opportunities(firm, cast, dir, &mut plan)?;
    deals(firm, cast, dir, &mut plan)?;
    Ok(plan)
}

fn time_entries(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let p = &firm.projects[cast.tm];
    let e = &firm.employees[cast.employee];
    let x = cross(p.currency);
    let on = format!("{} (workspace {}, {})", p.code, p.workspace_id, p.currency);
    struct Entry {
        id: &'static str,
        date: NaiveDate,
        minutes: i64,
        billable: bool,
        approved: bool,
        currency: &'static str,
        what: String,
        runs: [&'static str; 3],
        deleted_in_run2: bool,
    }
    let entries = [
        Entry {
            id: "598000001",
            date: ymd(2026, 8, 12),
            minutes: 180,
            billable: true,
            approved: true,
            currency: x,
            what: format!("cross-currency entry: 3 h billed in {x} on {on}"),
            runs: [
                "conformed; bill_amount_usd at the 2026-08 rate, revenue in the project currency through USD",
                "unchanged",
                "unchanged",
            ],
            deleted_in_run2: false,
        },
        Entry {
            id: "598000002",
            date: ymd(2026, 9, 16),
            minutes: 120,
            billable: true,
            approved: true,
            currency: x,
            what: format!("2 h billed in {x} on {on}, in the as_of month"),
            runs: [
                "rejected no_fx_rate (no 2026-09 rates)",
                "conformed (the 2026-09 rates arrived); absent from run 2's rejects",
                "conformed",
            ],
            deleted_in_run2: false,
        },
        Entry {
            id: "598000003",
            date: ymd(2026, 10, 5),
            minutes: 240,
            billable: true,
            approved: false,
            currency: p.currency,
            what: format!("4 h dated 2026-10-05, after as_of, on {on}"),
            runs: [
                "excluded: after as_of (not conformed, not rejected; counted in the run summary)",
                "excluded",
                "excluded",
            ],
            deleted_in_run2: false,
        },
        Entry {
            id: "598000004",
            date: ymd(2026, 8, 13),
            minutes: 120,
            billable: true,
            approved: true,
            currency: p.currency,
            what: format!("2 h billable on {on}"),
            runs: [
                "conformed",
                "deleted in the source: leaves fct_time_entry, revenue, margin, utilization (reconcile)",
                "gone",
            ],
            deleted_in_run2: true,
        },
        Entry {
            id: "598000005",
            date: ymd(2026, 8, 14),
            minutes: 60,
            billable: false,
            approved: true,
            currency: p.currency,
            what: format!("1 h non-billable on {on}"),
            runs: [
                "conformed",
                "deleted in the source: leaves fct_time_entry, margin, utilization (reconcile)",
                "gone",
            ],
            deleted_in_run2: true,
        },
    ];
    let mut w = JsonlWriter::append(dir, "kantata", "time_entries")?;
    for t in entries {
        let updated = (t.date + chrono::Duration::days(2)).min(as_of());
        w.write(&KtTimeEntry {
            id: t.id.to_owned(),
            workspace_id: &p.workspace_id,
            user_id: &e.user_id,
            date_performed: iso(t.date),
            time_in_minutes: t.minutes,
            billable: t.billable,
            approved: t.approved,
            rate_in_cents: if t.billable {
                rate_cents(185.0, t.currency)
            } else {
                0
            },
            currency: t.currency,
            notes: "Messy fixture",
            updated_at: kantata_dt(updated, 10 * 3600, HQ_OFFSET),
        })?;
        plan.planted.push(planted(
            "kantata",
            "time_entries",
            t.id,
            format!("{} (user {})", t.what, e.user_id),
            t.runs,
        ));
        if t.deleted_in_run2 {
            plan.runs[0].push(Change::Delete {
                system: "kantata",
                stream: "time_entries",
                id: t.id.to_owned(),
            });
        }
    }
    plan.appended.push(w.finish()?);
    Ok(())
}

fn ledger_lines(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let p = &firm.projects[cast.tm];
    let x = cross(p.currency);
    let on = format!("job {} ({}, {})", p.job_id, p.code, p.currency);
    let aug = ymd(2026, 8, 31);

    /// What run 2 does to the pair of lines.
    #[derive(Clone, Copy, PartialEq)]
    enum Then {
        Stays,
        /// Both lines are deleted in the source.
        Deleted,
        /// The invoice line gets its job; the expense line stays without one.
        JobFixed,
    }
    /// An invoice line `399910k` and an expense line `499910k` (dated six days earlier, a
    /// quarter of the amount) in the same situation.
    struct Pair<'a> {
        k: u8,
        date: NaiveDate,
        job: &'a str,
        currency: &'static str,
        usd: f64,
        what: String,
        runs: [&'static str; 3],
        then: Then,
    }
    let pairs = [
        Pair {
            k: 1,
            date: aug,
            job: UNKNOWN_JOB,
            currency: "USD",
            usd: 2400.0,
            what: format!("on job {UNKNOWN_JOB}, which is no NetSuite job"),
            runs: [
                "rejected unknown_project (field job)",
                "rejected unknown_project",
                "rejected unknown_project",
            ],
            then: Then::Stays,
        },
        Pair {
            k: 2,
            date: aug,
            job: "",
            currency: p.currency,
            usd: 1800.0,
            what: "with an empty job".to_owned(),
            runs: [
                "rejected unknown_project (no job)",
                "rejected unknown_project",
                "rejected unknown_project",
            ],
            then: Then::JobFixed,
        },
        Pair {
            k: 3,
            date: ymd(2026, 10, 15),
            job: &p.job_id,
            currency: p.currency,
            usd: 3100.0,
            what: format!("dated in October 2026, after as_of, on {on}"),
            runs: [
                "excluded: after as_of (not in margin, not rejected)",
                "excluded",
                "excluded",
            ],
            then: Then::Stays,
        },
        Pair {
            k: 4,
            date: aug,
            job: &p.job_id,
            currency: p.currency,
            usd: 2750.0,
            what: format!("on {on}"),
            runs: [
                "conformed (margin)",
                "deleted in the source: leaves margin (reconcile)",
                "gone",
            ],
            then: Then::Deleted,
        },
        Pair {
            k: 5,
            date: ymd(2026, 9, 22),
            job: &p.job_id,
            currency: x,
            usd: 1500.0,
            what: format!("in {x} on {on}, in the as_of month"),
            runs: [
                "rejected no_fx_rate (no 2026-09 rates)",
                "conformed (the 2026-09 rates arrived), converted through USD; absent from run 2's rejects",
                "conformed",
            ],
            then: Then::Stays,
        },
        Pair {
            k: 6,
            date: ymd(2026, 8, 25),
            job: &p.job_id,
            currency: x,
            usd: 1250.0,
            what: format!("cross-currency: in {x} on {on}"),
            runs: [
                "conformed; margin converts it to USD at the 2026-08 rate",
                "unchanged",
                "unchanged",
            ],
            then: Then::Stays,
        },
    ];
    const CATEGORIES: [&str; 6] = [
        "Travel",
        "Meals",
        "Lodging",
        "Travel",
        "Software",
        "Subcontractor",
    ];
    let mut inv = JsonlWriter::append(dir, "netsuite", "invoice_line")?;
    let mut exp = JsonlWriter::append(dir, "netsuite", "expense_line")?;
    for l in pairs {
        let inv_id = format!("399910{}", l.k);
        let exp_id = format!("499910{}", l.k);
        let exp_date = l.date - chrono::Duration::days(6);
        inv.write(&NsInvoiceLine {
            id: inv_id.clone(),
            tranid: format!("INV9910{}", l.k),
            trandate: netsuite(l.date),
            status: "A".to_owned(),
            job: l.job.to_owned(),
            foreignamount: format!("{:.2}", money(l.usd, l.currency)),
            currency: l.currency.to_owned(),
            lastmodifieddate: netsuite(l.date.min(as_of())),
        })?;
        exp.write(&NsExpenseLine {
            id: exp_id.clone(),
            trandate: netsuite(exp_date),
            job: l.job.to_owned(),
            category: CATEGORIES[usize::from(l.k) - 1].to_owned(),
            foreignamount: format!("{:.2}", money(l.usd / 4.0, l.currency)),
            currency: l.currency.to_owned(),
            lastmodifieddate: netsuite(exp_date.min(as_of())),
        })?;
        let inv_runs = if l.then == Then::JobFixed {
            [
                l.runs[0],
                "gets its job (lastmodifieddate moves): conformed, absent from run 2's rejects",
                "conformed",
            ]
        } else {
            l.runs
        };
        plan.planted.push(planted(
            "netsuite",
            "invoice_line",
            &inv_id,
            format!("open invoice line {}", l.what),
            inv_runs,
        ));
        plan.planted.push(planted(
            "netsuite",
            "expense_line",
            &exp_id,
            format!("expense line {}", l.what),
            l.runs,
        ));
        match l.then {
            Then::Stays => {}
            Then::Deleted => {
                for (stream, id) in [("invoice_line", &inv_id), ("expense_line", &exp_id)] {
                    plan.runs[0].push(Change::Delete {
                        system: "netsuite",
                        stream,
                        id: id.clone(),
                    });
                }
            }
            Then::JobFixed => plan.runs[0].push(Change::Set {
                system: "netsuite",
                stream: "invoice_line",
                id: inv_id.clone(),
                fields: vec![
                    ("/job", p.job_id.clone().into()),
                    ("/lastmodifieddate", netsuite(as_of()).into()),
                ],
            }),
        }
    }
    plan.appended.push(inv.finish()?);
    plan.appended.push(exp.finish()?);
    Ok(())
}

fn stories(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let m = &firm.projects[cast.milestone];
    let mut w = JsonlWriter::append(dir, "kantata", "stories")?;
    let accepted = ymd(2026, 8, 20);
    w.write(&KtStory {
        id: "702399001".to_owned(),
        workspace_id: UNKNOWN_WORKSPACE.to_owned(),
        title: "Milestone 1 sign-off".to_owned(),
        story_type: "milestone".to_owned(),
        state: "accepted".to_owned(),
        due_date: iso(ymd(2026, 8, 14)),
        accepted_at: Some(kantata_dt(accepted, 15 * 3600, HQ_OFFSET)),
        billing_amount_in_cents: Some(1_500_000),
        updated_at: kantata_dt(accepted, 16 * 3600, HQ_OFFSET),
    })?;
    plan.planted.push(planted(
        "kantata",
        "stories",
        "702399001",
        format!("accepted milestone (15,000.00) on workspace {UNKNOWN_WORKSPACE}, which is no Kantata workspace"),
        [
            "rejected unknown_workspace",
            "rejected unknown_workspace",
            "rejected unknown_workspace",
        ],
    ));
    let accepted = ymd(2026, 10, 7);
    let cents = (money(9000.0, m.currency) * 100.0) as i64;
    w.write(&KtStory {
        id: "702399002".to_owned(),
        workspace_id: m.workspace_id.clone(),
        title: "Phase 2 sign-off".to_owned(),
        story_type: "milestone".to_owned(),
        state: "accepted".to_owned(),
        due_date: iso(ymd(2026, 10, 2)),
        accepted_at: Some(kantata_dt(accepted, 15 * 3600, HQ_OFFSET)),
        billing_amount_in_cents: Some(cents),
        updated_at: kantata_dt(accepted, 16 * 3600, HQ_OFFSET),
    })?;
    plan.planted.push(planted(
        "kantata",
        "stories",
        "702399002",
        format!(
            "billing milestone ({} {}) on {} ({}, workspace {}) accepted 2026-10-07, after as_of",
            num(cents as f64 / 100.0),
            m.currency,
            m.code,
            m.billing.netsuite(),
            m.workspace_id
        ),
        [
            "excluded from revenue: accepted after as_of",
            "excluded",
            "excluded",
        ],
    ));
    plan.appended.push(w.finish()?);
    Ok(())
}

fn opportunities(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let parent = &firm.opps[cast.sf_parent];
    let p = &firm.projects[parent.project.expect("picked with a project")];
    let client = &firm.clients[parent.client];
    let pc = p.currency;
    let of = format!(
        "change order of {} (project {}, {}, {})",
        parent.id,
        p.code,
        p.billing.netsuite(),
        pc
    );
    struct Co {
        n: u64,
        title: &'static str,
        currency: &'static str,
        usd: f64,
        close: NaiveDate,
        what: String,
        runs: [&'static str; 3],
    }
    let x = cross(pc);
    let cos = [
        Co {
            n: 990_101,
            title: "Phase 2",
            currency: x,
            usd: 52_000.0,
            close: ymd(2026, 8, 14),
            what: format!("cross-currency {of}, in {x}, won 2026-08-14"),
            runs: [
                "bookings won (amount_usd at the 2026-08 rate); contract converted to the project currency through USD",
                "amount raised: bookings amount_change of the difference, dated 2026-09-30",
                "unchanged",
            ],
        },
        Co {
            n: 990_102,
            title: "Data Migration",
            currency: pc,
            usd: 30_000.0,
            close: ymd(2026, 7, 22),
            what: format!("{of}, won 2026-07-22"),
            runs: [
                "bookings won",
                "moved to Closed Lost: bookings debook of its booked total, dated 2026-09-30",
                "Closed Won again (CloseDate 2026-09-30): bookings won, dated 2026-09-30",
            ],
        },
        Co {
            n: 990_103,
            title: "Extended Support",
            currency: non_usd(pc),
            usd: 20_000.0,
            close: ymd(2026, 9, 15),
            what: format!("{of}, in {}, won 2026-09-15 (the as_of month)", non_usd(pc)),
            runs: [
                "bookings won with amount_usd NULL (no 2026-09 rate; a missing-rate warning); never rejected",
                "amount_usd filled in (the 2026-09 rates arrived)",
                "unchanged",
            ],
        },
        Co {
            n: 990_104,
            title: "Rollout Wave 3",
            currency: pc,
            usd: 26_000.0,
            close: ymd(2026, 10, 20),
            what: format!("{of}, Closed Won with CloseDate 2026-10-20, after as_of"),
            runs: [
                "not in bookings: dated after as_of (waits outside the window)",
                "not in bookings",
                "not in bookings",
            ],
        },
        Co {
            n: 990_105,
            title: "Training Add-on",
            currency: pc,
            usd: 12_000.0,
            close: ymd(2026, 6, 10),
            what: format!("{of}, won 2026-06-10"),
            runs: [
                "bookings won",
                "IsDeleted true (SystemModstamp moves): bookings debook, dated 2026-09-30; never pipeline",
                "unchanged",
            ],
        },
    ];
    let mut w = JsonlWriter::append(dir, "salesforce", "Opportunity")?;
    for co in cos {
        let id = sf_id("006", co.n);
        let amount = money(co.usd, co.currency);
        let modified = (co.close + chrono::Duration::days(1)).min(as_of());
        w.write(&SfOpportunity {
            id: id.clone(),
            account_id: client.sf_account.clone().unwrap_or_default(),
            name: format!("{} - Change Order ({})", parent.name, co.title),
            stage_name: "Closed Won".to_owned(),
            amount,
            currency_iso_code: co.currency.to_owned(),
            close_date: iso(co.close),
            probability: 100.0,
            kind: "Change Order".to_owned(),
            is_closed: true,
            is_won: true,
            is_deleted: false,
            billing_type: parent.billing.salesforce().to_owned(),
            practice: PRACTICES[parent.practice].name.to_owned(),
            estimated_hours: (amount * base_fx(co.currency) / 175.0 / 10.0).round() * 10.0,
            start_date: iso(co.close + chrono::Duration::days(14)),
            end_date: iso(co.close + chrono::Duration::weeks(10)),
            parent_opportunity: Some(parent.id.clone()),
            system_modstamp: salesforce_dt(modified, 15 * 3600),
        })?;
        plan.planted.push(planted(
            "salesforce",
            "Opportunity",
            &id,
            format!("{} ({} {})", co.what, num(amount), co.currency),
            co.runs,
        ));
        let set = |fields: Vec<(&'static str, Value)>| Change::Set {
            system: "salesforce",
            stream: "Opportunity",
            id: id.clone(),
            fields,
        };
        match co.n {
            990_101 => {
                let raised = amount + money(7_000.0, co.currency);
                plan.runs[0].push(set(vec![
                    ("/Amount", raised.into()),
                    ("/SystemModstamp", sf_stamp(2).into()),
                ]));
            }
            990_102 => {
                plan.runs[0].push(set(vec![
                    ("/StageName", "Closed Lost".into()),
                    ("/Probability", 0.0.into()),
                    ("/IsWon", false.into()),
                    ("/SystemModstamp", sf_stamp(2).into()),
                ]));
                plan.runs[1].push(set(vec![
                    ("/StageName", "Closed Won".into()),
                    ("/CloseDate", iso(as_of()).into()),
                    ("/Probability", 100.0.into()),
                    ("/IsWon", true.into()),
                    ("/SystemModstamp", sf_stamp(3).into()),
                ]));
            }
            990_105 => plan.runs[0].push(set(vec![
                ("/IsDeleted", true.into()),
                ("/SystemModstamp", sf_stamp(2).into()),
            ])),
            _ => {}
        }
    }
    plan.appended.push(w.finish()?);
    Ok(())
}

fn deals(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let parent = &firm.opps[cast.hs_parent];
    let p = &firm.projects[parent.project.expect("picked with a project")];
    let client = &firm.clients[parent.client];
    let x = cross(p.currency);
    let id = "18234499001";
    let amount = money(36_000.0, x);
    let raised = amount + money(6_000.0, x);
    let close = ymd(2026, 7, 16);
    let stamp = hubspot_dt(close + chrono::Duration::days(1), 15 * 3600, 0);
    let mut w = JsonlWriter::append(dir, "hubspot", "deals")?;
    w.write(&HsDeal {
        id: id.to_owned(),
        properties: HsDealProperties {
            dealname: format!("{} - Change Order (Scope Extension)", parent.name),
            dealstage: "closedwon".to_owned(),
            amount: format!("{amount:.2}"),
            deal_currency_code: x.to_owned(),
            closedate: hubspot_dt(close, 0, 0),
            hs_is_closed_won: "true".to_owned(),
            hs_deal_stage_probability: "1".to_owned(),
            dealtype: "changeorder".to_owned(),
            billing_type: parent.billing.hubspot().to_owned(),
            practice: PRACTICES[parent.practice].name.to_owned(),
            estimated_hours: "200".to_owned(),
            start_date: iso(close + chrono::Duration::days(14)),
            end_date: iso(close + chrono::Duration::weeks(12)),
            parent_deal_id: parent.id.clone(),
            netsuite_customer_id: client.ns_id.clone().unwrap_or_default(),
            hs_lastmodifieddate: stamp.clone(),
        },
        archived: false,
        updated_at: stamp,
    })?;
    plan.planted.push(planted(
        "hubspot",
        "deals",
        id,
        format!(
            "cross-currency change order of deal {} (project {}, {}), in {x} ({}), won 2026-07-16",
            parent.id,
            p.code,
            p.currency,
            num(amount)
        ),
        [
            "bookings won (amount_usd at the 2026-07 rate)",
            "amount raised: bookings amount_change of the difference, dated 2026-09-30",
            "closedlost: bookings debook of the whole booked total (won + change), dated 2026-09-30",
        ],
    ));
    let set = |fields: Vec<(&'static str, Value)>| Change::Set {
        system: "hubspot",
        stream: "deals",
        id: id.to_owned(),
        fields,
    };
    plan.runs[0].push(set(vec![
        ("/properties/amount", format!("{raised:.2}").into()),
        ("/properties/hs_lastmodifieddate", hs_stamp(2).into()),
        ("/updatedAt", hs_stamp(2).into()),
    ]));
    plan.runs[1].push(set(vec![
        ("/properties/dealstage", "closedlost".into()),
        ("/properties/hs_is_closed_won", "false".into()),
        ("/properties/hs_deal_stage_probability", "0".into()),
        ("/properties/hs_lastmodifieddate", hs_stamp(3).into()),
        ("/updatedAt", hs_stamp(3).into()),
    ]));
    plan.appended.push(w.finish()?);
    Ok(())
}
