//! The planted CRM records of the messy set: change orders on a Salesforce and a HubSpot
//! project, which runs 2 and 3 raise, lose, win again and delete. Their histories (SPEC section
//! 4b) follow: each change of a later run adds a Salesforce `OpportunityHistory` row (deleting
//! an opportunity deletes its rows) or a new first entry to the deal's `propertiesWithHistory`.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::Value;

use super::plant::{Cast, Change, Plan, cross, money, non_usd, planted};
use crate::generate::calendar::{as_of, hubspot_dt, iso, salesforce_dt, ymd};
use crate::generate::emit::{HsDeal, HsDealProperties, HsHistoryEntry, SfOpportunity, num};
use crate::generate::firm::{Firm, Outcome, base_fx, sf_id};
use crate::generate::history::{OppVersion, at, hs_history, hs_time, sf_history_rows};
use crate::generate::reference::PRACTICES;
use crate::generate::writer::JsonlWriter;
use crate::generate::{Error, Result};

/// The cursor stamps of runs 2 and 3: on the `as_of` date, after every cursor of run 1.
fn sf_stamp(run: usize) -> String {
    salesforce_dt(as_of(), (19 + run as u32) * 3600)
}

fn hs_stamp(run: usize) -> String {
    hubspot_dt(as_of(), (19 + run as u32) * 3600, 0)
}

pub(super) fn opportunities(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
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
    let mut hw = JsonlWriter::append(dir, "salesforce", "OpportunityHistory")?;
    // history row ids: a fixed range far above the generated ones
    let mut next_row = FIRST_HISTORY_ROW;
    for co in cos {
        let id = sf_id("006", co.n);
        let amount = money(co.usd, co.currency);
        let modified = (co.close + chrono::Duration::days(1)).min(as_of());
        // Created at the proposal stage three weeks before the close, won the day after it.
        let won = OppVersion {
            at: at(modified, 15 * 3600),
            stage: Outcome::Won,
            amount,
            close: co.close,
        };
        let versions = [
            OppVersion {
                at: at(co.close - chrono::Duration::days(21), 10 * 3600),
                stage: Outcome::Open(6),
                ..won.clone()
            },
            won.clone(),
        ];
        let rows = sf_history_rows(&id, &versions, &mut next_row, None);
        let row_ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        for r in &rows {
            hw.write(r)?;
        }
        // a later run's change: one more history row, as of that run's stamp
        let mut history_row = |v: OppVersion| -> Result<Change> {
            let row = sf_history_rows(&id, &[v], &mut next_row, None).remove(0);
            let record = serde_json::to_string(&row).map_err(|source| Error::Json {
                path: dir.join("salesforce/OpportunityHistory.jsonl"),
                source,
            })?;
            Ok(Change::Append {
                system: "salesforce",
                stream: "OpportunityHistory",
                id: row.id,
                record,
            })
        };
        let stamp = |run: usize| at(as_of(), (19 + run as u32) * 3600);
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
                let v = OppVersion {
                    at: stamp(2),
                    amount: raised,
                    ..won.clone()
                };
                plan.runs[0].push(history_row(v)?);
            }
            990_102 => {
                plan.runs[0].push(set(vec![
                    ("/StageName", "Closed Lost".into()),
                    ("/Probability", 0.0.into()),
                    ("/IsWon", false.into()),
                    ("/SystemModstamp", sf_stamp(2).into()),
                ]));
                let lost = OppVersion {
                    at: stamp(2),
                    stage: Outcome::Lost,
                    ..won.clone()
                };
                plan.runs[0].push(history_row(lost)?);
                plan.runs[1].push(set(vec![
                    ("/StageName", "Closed Won".into()),
                    ("/CloseDate", iso(as_of()).into()),
                    ("/Probability", 100.0.into()),
                    ("/IsWon", true.into()),
                    ("/SystemModstamp", sf_stamp(3).into()),
                ]));
                let again = OppVersion {
                    at: stamp(3),
                    close: as_of(),
                    ..won.clone()
                };
                plan.runs[1].push(history_row(again)?);
            }
            990_105 => {
                plan.runs[0].push(set(vec![
                    ("/IsDeleted", true.into()),
                    ("/SystemModstamp", sf_stamp(2).into()),
                ]));
                // deleting an opportunity deletes its history rows with it
                for row_id in &row_ids {
                    plan.runs[0].push(Change::Set {
                        system: "salesforce",
                        stream: "OpportunityHistory",
                        id: row_id.clone(),
                        fields: vec![
                            ("/IsDeleted", true.into()),
                            ("/SystemModstamp", sf_stamp(2).into()),
                        ],
                    });
                }
            }
            _ => {}
        }
    }
    plan.appended.push(w.finish()?);
    plan.appended.push(hw.finish()?);
    Ok(())
}

/// The id number (`sf_id("008", n)`) of the first history row of the planted opportunities.
const FIRST_HISTORY_ROW: u64 = 910_000_000;

pub(super) fn deals(firm: &Firm, cast: &Cast, dir: &Path, plan: &mut Plan) -> Result<()> {
    let parent = &firm.opps[cast.hs_parent];
    let p = &firm.projects[parent.project.expect("picked with a project")];
    let client = &firm.clients[parent.client];
    let x = cross(p.currency);
    let id = "18234499001";
    let amount = money(36_000.0, x);
    let raised = amount + money(6_000.0, x);
    let close = ymd(2026, 7, 16);
    let stamp = hubspot_dt(close + chrono::Duration::days(1), 15 * 3600, 0);
    // Created as contractsent three weeks before the close, won the day after it.
    let won_at = at(close + chrono::Duration::days(1), 15 * 3600);
    let won = OppVersion {
        at: won_at,
        stage: Outcome::Won,
        amount,
        close,
    };
    let history = hs_history(&[
        OppVersion {
            at: at(close - chrono::Duration::days(21), 10 * 3600),
            stage: Outcome::Open(4),
            ..won.clone()
        },
        won,
    ]);
    debug_assert_eq!(
        hs_time(won_at),
        stamp,
        "the last entries are the deal's stamp"
    );
    let entry = |value: &str, run: usize, source: &str| HsHistoryEntry {
        value: value.to_owned(),
        timestamp: hs_stamp(run),
        source_type: source.to_owned(),
    };
    // runs 2 and 3 put a new entry in front of a property's list
    let newer = |list: &[HsHistoryEntry], e: HsHistoryEntry| -> Value {
        let mut all = vec![e];
        all.extend(list.iter().cloned());
        serde_json::to_value(all).expect("entries serialize")
    };
    let amount_run2 = newer(&history.amount, entry(&format!("{raised:.2}"), 2, "CRM_UI"));
    let stage_run3 = newer(&history.dealstage, entry("closedlost", 3, "CRM_UI"));
    let prob_run3 = newer(
        &history.hs_deal_stage_probability,
        entry("0", 3, "CALCULATED"),
    );
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
        properties_with_history: Some(history),
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
        ("/propertiesWithHistory/amount", amount_run2),
        ("/updatedAt", hs_stamp(2).into()),
    ]));
    plan.runs[1].push(set(vec![
        ("/properties/dealstage", "closedlost".into()),
        ("/properties/hs_is_closed_won", "false".into()),
        ("/properties/hs_deal_stage_probability", "0".into()),
        ("/properties/hs_lastmodifieddate", hs_stamp(3).into()),
        ("/propertiesWithHistory/dealstage", stage_run3),
        (
            "/propertiesWithHistory/hs_deal_stage_probability",
            prob_run3,
        ),
        ("/updatedAt", hs_stamp(3).into()),
    ]));
    plan.appended.push(w.finish()?);
    Ok(())
}
