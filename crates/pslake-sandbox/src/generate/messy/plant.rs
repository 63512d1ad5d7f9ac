//! The planted records of the messy set: what run 1 adds to the generated streams, and how runs 2
//! and 3 change or delete them (the CRM records are in [`super::crm`]).
//!
//! Every planted record has a fixed id. The records they hang on (the host project, the parent
//! opportunities, the employee) are picked by fixed rules in [`Cast::pick`], so they depend on the
//! seed and the scale only through the firm those rules pick from.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use super::Planted;
use crate::generate::bad_rows::UNKNOWN_WORKSPACE;
use crate::generate::calendar::{as_of, iso, kantata_dt, netsuite, ymd};
use crate::generate::emit::{HQ_OFFSET, KtStory, KtTimeEntry, num};
use crate::generate::firm::{Billing, Crm, Firm, Kind, Opp, Outcome, Project, base_fx};
use crate::generate::ledger::{ExpenseLine, InvoiceLine, LedgerWriter, employee_entity};
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
    /// A new record `id`, appended to the overlaid file (an opportunity's new history row),
    /// as its JSON line.
    Append {
        system: &'static str,
        stream: &'static str,
        id: String,
        record: String,
    },
}

impl Change {
    pub(super) fn stream(&self) -> (&'static str, &'static str) {
        match self {
            Change::Set { system, stream, .. }
            | Change::Delete { system, stream, .. }
            | Change::Append { system, stream, .. } => (system, stream),
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Change::Set { id, .. } | Change::Delete { id, .. } | Change::Append { id, .. } => id,
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
    pub(super) tm: usize,
    /// A milestone project: host of the milestone accepted after `as_of`.
    pub(super) milestone: usize,
    /// Won Salesforce and HubSpot new business whose projects take the planted change orders.
    pub(super) sf_parent: usize,
    pub(super) hs_parent: usize,
    /// Employee 0: employed throughout the window, in the US (cost in USD).
    pub(super) employee: usize,
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
pub(super) fn cross(c: &str) -> &'static str {
    if c == "EUR" { "GBP" } else { "EUR" }
}

/// `c`, or EUR when `c` is USD: a currency that needs a treasury rate.
pub(super) fn non_usd(c: &'static str) -> &'static str {
    if c == "USD" { "EUR" } else { c }
}

/// A round amount in `currency` worth about `usd`.
pub(super) fn money(usd: f64, currency: &str) -> f64 {
    ((usd / base_fx(currency)) / 100.0).round().max(1.0) * 100.0
}

/// A bill rate in cents of `currency` worth about `usd` an hour.
fn rate_cents(usd: f64, currency: &str) -> i64 {
    (usd / base_fx(currency)).round() as i64 * 100
}

pub(super) fn planted(
    system: &str,
    stream: &str,
    id: &str,
    what: String,
    runs: [&str; 3],
) -> Planted {
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
    super::crm::opportunities(firm, cast, dir, &mut plan)?;
    super::crm::deals(firm, cast, dir, &mut plan)?;
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
    let mut ledger = LedgerWriter::append(dir)?;
    for l in pairs {
        let inv_id = format!("399910{}", l.k);
        let exp_id = format!("499910{}", l.k);
        let exp_date = l.date - chrono::Duration::days(6);
        let inv = ledger.invoice(&InvoiceLine {
            id: inv_id.clone(),
            tranid: format!("INV9910{}", l.k),
            trandate: netsuite(l.date),
            status: "A".to_owned(),
            job: l.job.to_owned(),
            amount: format!("{:.2}", money(l.usd, l.currency)),
            currency: l.currency.to_owned(),
            lastmodifieddate: netsuite(l.date.min(as_of())),
        })?;
        let exp = ledger.expense(&ExpenseLine {
            id: exp_id.clone(),
            trandate: netsuite(exp_date),
            employee: employee_entity(usize::from(l.k)),
            job: l.job.to_owned(),
            category: CATEGORIES[usize::from(l.k) - 1].to_owned(),
            amount: format!("{:.2}", money(l.usd / 4.0, l.currency)),
            currency: l.currency.to_owned(),
            lastmodifieddate: netsuite(exp_date.min(as_of())),
        })?;
        let inv_runs = if l.then == Then::JobFixed {
            [
                l.runs[0],
                "gets its job (linelastmodifieddate moves): conformed, absent from run 2's rejects",
                "conformed",
            ]
        } else {
            l.runs
        };
        plan.planted.push(planted(
            "netsuite",
            "transactionline",
            &inv_id,
            format!("open invoice line {}", l.what),
            inv_runs,
        ));
        plan.planted.push(planted(
            "netsuite",
            "transactionline",
            &exp_id,
            format!("expense line {}", l.what),
            l.runs,
        ));
        match l.then {
            Then::Stays => {}
            Then::Deleted => {
                // the whole invoice and expense report go: headers and every line
                for w in [&inv, &exp] {
                    plan.runs[0].push(Change::Delete {
                        system: "netsuite",
                        stream: "transaction",
                        id: w.transaction.clone(),
                    });
                    for id in &w.lines {
                        plan.runs[0].push(Change::Delete {
                            system: "netsuite",
                            stream: "transactionline",
                            id: id.clone(),
                        });
                    }
                }
            }
            Then::JobFixed => plan.runs[0].push(Change::Set {
                system: "netsuite",
                stream: "transactionline",
                id: inv_id.clone(),
                fields: vec![
                    ("/entity", p.job_id.clone().into()),
                    ("/linelastmodifieddate", netsuite(as_of()).into()),
                ],
            }),
        }
    }
    plan.appended.extend(ledger.finish()?);
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
        archived: false,
        deleted_at: None,
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
        archived: false,
        deleted_at: None,
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
