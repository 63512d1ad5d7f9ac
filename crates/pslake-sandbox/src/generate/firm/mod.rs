//! The in-memory model of the synthetic firm: employees, clients, opportunities, projects and
//! their teams, milestones. Everything here is small (proportional to headcount); the large
//! streams (time entries, time off) are produced from it day by day in [`super::timesheets`].
//!
//! Invariant: every random draw comes from a [`ChaCha8Rng`] derived from the seed and a fixed
//! label, and every collection is a `Vec` (no hash-map iteration), so a seed gives one firm.

mod staff;
mod stories;

pub(crate) use staff::Employee;
pub(crate) use stories::Story;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::calendar::{
    add_months, as_of, history_start, month_diff, month_start, weekdays_between, ymd,
};
use super::reference::{
    COMPANY_A, COMPANY_B, CUSTOMER_COUNTRIES, FX_BASE, HS_STAGES, INDUSTRIES, PRACTICES, SF_STAGES,
};

/// A reproducible random stream for `(seed, label, index)`.
pub(crate) fn rng_for(seed: u64, label: &str, index: u64) -> ChaCha8Rng {
    let mut h = splitmix(seed);
    for b in label.bytes() {
        h = splitmix(h ^ u64::from(b));
    }
    ChaCha8Rng::seed_from_u64(splitmix(h ^ splitmix(index)))
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An index drawn with the given integer weights.
pub(crate) fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// A uniform date in `[from, to]`.
pub(crate) fn date_between(rng: &mut ChaCha8Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + Duration::days(rng.random_range(0..=span))
}

/// `usd_per_unit` of a currency at the base (planning) rate; rates in treasury move around it.
pub(crate) fn base_fx(currency: &str) -> f64 {
    FX_BASE
        .iter()
        .find(|(c, _)| *c == currency)
        .map_or(1.0, |(_, r)| *r)
}

/// A Salesforce-style 18-character id: 3-character key prefix, 12 characters, 3-character
/// case-safe checksum (the documented algorithm).
pub(crate) fn sf_id(prefix: &str, n: u64) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const CHK: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let modulus = 62u64.pow(5);
    let mut x = (n.wrapping_mul(1_000_003) + 7_777) % modulus;
    let mut tail = [b'0'; 5];
    for c in tail.iter_mut().rev() {
        *c = B62[(x % 62) as usize];
        x /= 62;
    }
    let mut id = format!("{prefix}5e00000");
    id.push_str(std::str::from_utf8(&tail).expect("ascii"));
    let bytes: Vec<u8> = id.bytes().collect();
    let mut suffix = String::new();
    for chunk in bytes.chunks(5) {
        let mut flags = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                flags |= 1 << i;
            }
        }
        suffix.push(CHK[flags] as char);
    }
    id + &suffix
}

/// Which CRM an opportunity lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crm {
    Salesforce,
    HubSpot,
}

/// New business, change order or renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    NewBusiness,
    ChangeOrder,
    Renewal,
}

/// The three billing types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Billing {
    TimeAndMaterials,
    FixedFee,
    Milestone,
}

impl Billing {
    pub(crate) const ALL: [Billing; 3] = [
        Billing::TimeAndMaterials,
        Billing::FixedFee,
        Billing::Milestone,
    ];

    /// Salesforce `Billing_Type__c`.
    pub(crate) fn salesforce(self) -> &'static str {
        match self {
            Billing::TimeAndMaterials => "Time and Materials",
            Billing::FixedFee => "Fixed Fee",
            Billing::Milestone => "Milestone",
        }
    }

    /// HubSpot `billing_type`.
    pub(crate) fn hubspot(self) -> &'static str {
        match self {
            Billing::TimeAndMaterials => "time_and_materials",
            Billing::FixedFee => "fixed_fee",
            Billing::Milestone => "milestone",
        }
    }

    /// NetSuite `jobbillingtype`.
    pub(crate) fn netsuite(self) -> &'static str {
        match self {
            Billing::TimeAndMaterials => "TM",
            Billing::FixedFee => "FBI",
            Billing::Milestone => "FBM",
        }
    }
}

/// Where an opportunity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Open at an open stage (index into the CRM's stage list).
    Open(usize),
    Won,
    Lost,
}

/// A client: a Salesforce account and/or a NetSuite customer (or the firm itself).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) name: String,
    pub(crate) country: &'static str,
    pub(crate) currency: &'static str,
    pub(crate) industry: &'static str,
    /// Salesforce Account Id (main firm's clients).
    pub(crate) sf_account: Option<String>,
    /// NetSuite customer internal id, once the client is a customer.
    pub(crate) ns_id: Option<String>,
    pub(crate) ns_entity: String,
    pub(crate) crm: Crm,
    pub(crate) modified: NaiveDate,
}

/// An opportunity (Salesforce) or deal (HubSpot).
#[derive(Debug, Clone)]
pub(crate) struct Opp {
    pub(crate) crm: Crm,
    pub(crate) id: String,
    pub(crate) client: usize,
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) kind: Kind,
    pub(crate) billing: Billing,
    pub(crate) practice: usize,
    pub(crate) amount: f64,
    pub(crate) est_hours: f64,
    pub(crate) close: NaiveDate,
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
    pub(crate) parent: Option<usize>,
    /// Salesforce `IsDeleted` / HubSpot `archived`.
    pub(crate) removed: bool,
    pub(crate) modified: NaiveDate,
    pub(crate) mod_secs: u32,
    pub(crate) project: Option<usize>,
}

impl Opp {
    /// The stage label in this opportunity's CRM.
    pub(crate) fn stage(&self) -> &'static str {
        stage_label(self.crm, self.outcome)
    }
}

impl Crm {
    /// How many open stages the CRM's default pipeline has (before won and lost).
    pub(crate) fn open_stages(self) -> usize {
        match self {
            Crm::Salesforce => SF_STAGES.len() - 2,
            Crm::HubSpot => HS_STAGES.len() - 2,
        }
    }
}

/// A stage's label in a CRM: Salesforce `StageName`, HubSpot `dealstage`.
pub(crate) fn stage_label(crm: Crm, outcome: Outcome) -> &'static str {
    match (crm, outcome) {
        (Crm::Salesforce, Outcome::Open(i)) => SF_STAGES[i].0,
        (Crm::Salesforce, Outcome::Won) => SF_STAGES[8].0,
        (Crm::Salesforce, Outcome::Lost) => SF_STAGES[9].0,
        (Crm::HubSpot, Outcome::Open(i)) => HS_STAGES[i].0,
        (Crm::HubSpot, Outcome::Won) => HS_STAGES[5].0,
        (Crm::HubSpot, Outcome::Lost) => HS_STAGES[6].0,
    }
}

/// Salesforce's default `Probability` (0-100) of a stage.
pub(crate) fn sf_probability(outcome: Outcome) -> f64 {
    match outcome {
        Outcome::Open(s) => SF_STAGES[s].1,
        Outcome::Won => 100.0,
        Outcome::Lost => 0.0,
    }
}

/// HubSpot's `hs_deal_stage_probability` (a 0-1 string) of a stage.
pub(crate) fn hs_probability(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Open(s) => HS_STAGES[s].1,
        Outcome::Won => "1",
        Outcome::Lost => "0",
    }
}

/// A team member on a project.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) emp: usize,
    pub(crate) share: f64,
    /// Bill rate per hour in the project currency (whole units).
    pub(crate) rate: f64,
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
}

/// A NetSuite job with its Kantata workspace.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) job_id: String,
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) client: usize,
    /// NetSuite `entitystatus` 1..6.
    pub(crate) status: u8,
    pub(crate) billing: Billing,
    pub(crate) practice: usize,
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
    /// On-hold projects stop logging time from this date.
    pub(crate) hold_from: Option<NaiveDate>,
    pub(crate) currency: &'static str,
    pub(crate) opp: Option<usize>,
    pub(crate) budget_hours: Option<f64>,
    pub(crate) workspace_id: String,
    /// Won contract value in the project currency (new business plus won change orders and
    /// renewals).
    pub(crate) contract: f64,
    pub(crate) internal: bool,
    /// Whether the team records time (not pending, not cancelled).
    pub(crate) logs_time: bool,
    pub(crate) modified: NaiveDate,
    /// When the ERP job was set up (NetSuite `datecreated`): days to weeks after the win.
    pub(crate) created: NaiveDate,
    pub(crate) team: Vec<Member>,
}

/// The whole firm.
#[derive(Debug, Clone)]
pub(crate) struct Firm {
    pub(crate) seed: u64,
    pub(crate) employees: Vec<Employee>,
    pub(crate) clients: Vec<Client>,
    pub(crate) opps: Vec<Opp>,
    pub(crate) projects: Vec<Project>,
    pub(crate) stories: Vec<Story>,
    /// The internal (non-billable) project, index into `projects`.
    pub(crate) internal_project: usize,
    /// The won Salesforce opportunity deliberately left without an ERP project (a warning).
    pub(crate) won_without_project: Option<usize>,
    /// Staffing load per employee and month while the firm is built.
    loads: Vec<[f64; LOAD_MONTHS]>,
}

/// First month of the staffing-load table (projects can start before `history_start`).
fn load_base() -> NaiveDate {
    add_months(month_start(history_start()), -15)
}
const LOAD_MONTHS: usize = 45;

fn load_months(from: NaiveDate, to: NaiveDate) -> std::ops::Range<usize> {
    let a = month_diff(load_base(), from).clamp(0, LOAD_MONTHS as i32) as usize;
    let b = (month_diff(load_base(), to) + 1).clamp(0, LOAD_MONTHS as i32) as usize;
    a..b.max(a)
}

/// Headcount for a scale.
pub(crate) fn headcount(scale: f64) -> usize {
    ((200.0 * scale).round() as usize).max(10)
}

impl Firm {
    /// Builds the firm for `seed` and `scale`; `bad_rows` adds the deliberate warning cases.
    pub(crate) fn build(seed: u64, scale: f64, bad_rows: bool) -> Self {
        let n = headcount(scale);
        let employees = staff::build_employees(seed, n);
        let mut firm = Firm {
            seed,
            loads: vec![[0.0; LOAD_MONTHS]; employees.len()],
            employees,
            clients: Vec::new(),
            opps: Vec::new(),
            projects: Vec::new(),
            stories: Vec::new(),
            internal_project: 0,
            won_without_project: None,
        };
        firm.build_clients(n);
        firm.build_internal_project();
        let n_sf = ((n as f64) * 3.8).round().max(16.0) as usize;
        let n_hs = ((n as f64) * 0.95).round().max(10.0) as usize;
        firm.build_new_business(Crm::Salesforce, n_sf);
        firm.build_new_business(Crm::HubSpot, n_hs);
        firm.build_followons();
        firm.finish_projects();
        firm.build_extra_jobs(n);
        firm.mark_removed();
        if bad_rows {
            firm.add_won_without_project();
        }
        firm.assign_customer_ids();
        firm.build_stories();
        firm.date_jobs();
        firm
    }

    /// When each ERP job was set up (from a random stream of its own, so nothing else moves):
    /// a won opportunity's job days to weeks after the win (never after `as_of`), a pending or
    /// not-awarded job some days before it was last modified, the internal one at its start.
    fn date_jobs(&mut self) {
        for (pi, p) in self.projects.iter_mut().enumerate() {
            let mut rng = rng_for(self.seed, "job-created", pi as u64);
            p.created = if p.internal {
                p.start
            } else if let Some(oi) = p.opp {
                let days = [
                    rng.random_range(1..=7),
                    rng.random_range(5..=21),
                    rng.random_range(14..=45),
                ][weighted(&mut rng, &[40, 45, 15])];
                (self.opps[oi].close + Duration::days(days)).min(as_of())
            } else {
                p.modified - Duration::days(rng.random_range(0..=30))
            };
        }
    }

    fn build_clients(&mut self, n: usize) {
        let mut rng = rng_for(self.seed, "clients", 0);
        let n_sf = ((n as f64) * 0.3).round().max(8.0) as usize;
        let n_hs = ((n as f64) * 0.08).round().max(4.0) as usize;
        let mut used = Vec::new();
        for i in 0..n_sf + n_hs {
            let name = loop {
                let a = COMPANY_A[rng.random_range(0..COMPANY_A.len())];
                let b = COMPANY_B[rng.random_range(0..COMPANY_B.len())];
                let base = format!("{a} {b}");
                let name = if used.contains(&base) {
                    format!("{base} {}", used.len())
                } else {
                    base
                };
                if !used.contains(&name) {
                    break name;
                }
            };
            used.push(name.clone());
            let weights: Vec<u32> = CUSTOMER_COUNTRIES.iter().map(|c| c.2).collect();
            let ci = if i < CUSTOMER_COUNTRIES.len() {
                i
            } else {
                weighted(&mut rng, &weights)
            };
            let crm = if i < n_sf {
                Crm::Salesforce
            } else {
                Crm::HubSpot
            };
            self.clients.push(Client {
                name,
                country: CUSTOMER_COUNTRIES[ci].0,
                currency: CUSTOMER_COUNTRIES[ci].1,
                industry: INDUSTRIES[rng.random_range(0..INDUSTRIES.len())],
                sf_account: (crm == Crm::Salesforce).then(|| sf_id("001", i as u64 + 1)),
                ns_id: None,
                ns_entity: String::new(),
                crm,
                modified: date_between(&mut rng, history_start(), as_of()),
            });
        }
    }

    fn build_internal_project(&mut self) {
        self.clients.push(Client {
            name: "Meridian Partners (Internal)".to_owned(),
            country: "US",
            currency: "USD",
            industry: "Professional Services",
            sf_account: None,
            ns_id: None,
            ns_entity: String::new(),
            crm: Crm::Salesforce,
            modified: history_start(),
        });
        let client = self.clients.len() - 1;
        self.internal_project = self.projects.len();
        self.push_project(Project {
            job_id: String::new(),
            code: String::new(),
            name: "Internal - Practice Development".to_owned(),
            client,
            status: 2,
            billing: Billing::TimeAndMaterials,
            practice: 0,
            start: ymd(2020, 1, 1),
            end: ymd(2030, 12, 31),
            hold_from: None,
            currency: "USD",
            opp: None,
            budget_hours: None,
            workspace_id: String::new(),
            contract: 0.0,
            internal: true,
            logs_time: true,
            modified: history_start(),
            created: ymd(2020, 1, 1),
            team: Vec::new(),
        });
    }

    fn push_project(&mut self, mut p: Project) -> usize {
        let i = self.projects.len();
        p.job_id = (200_001 + i).to_string();
        p.code = format!("PRJ-{:05}", i + 1);
        p.workspace_id = (31_004_401 + i).to_string();
        self.projects.push(p);
        i
    }

    fn push_opp(&mut self, mut o: Opp) -> usize {
        let i = self.opps.len();
        o.id = match o.crm {
            Crm::Salesforce => sf_id("006", i as u64 + 1),
            Crm::HubSpot => (18_234_400_000u64 + (i as u64) * 13).to_string(),
        };
        self.opps.push(o);
        i
    }

    fn clients_of(&self, crm: Crm) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| self.clients[i].crm == crm && !self.is_internal_client(i))
            .collect()
    }

    fn is_internal_client(&self, i: usize) -> bool {
        self.projects
            .get(self.internal_project)
            .is_some_and(|p| p.client == i)
    }

    fn build_new_business(&mut self, crm: Crm, count: usize) {
        let label = match crm {
            Crm::Salesforce => "sf-opps",
            Crm::HubSpot => "hs-deals",
        };
        let mut rng = rng_for(self.seed, label, 0);
        let clients = self.clients_of(crm);
        let open_stages = match crm {
            Crm::Salesforce => 8,
            Crm::HubSpot => 5,
        };
        let earliest = history_start() - Duration::days(270);
        let latest = as_of() + Duration::days(180);
        let mut won = 0usize;
        for i in 0..count {
            let client = clients[rng.random_range(0..clients.len())];
            // The first opportunities walk through every stage so small firms cover them all.
            let outcome = if i < open_stages {
                Outcome::Open(i)
            } else if i == open_stages {
                Outcome::Lost
            } else if i <= open_stages + 3 {
                Outcome::Won
            } else {
                let close = date_between(&mut rng, earliest, latest);
                if close > as_of() {
                    Outcome::Open(rng.random_range(0..open_stages))
                } else if rng.random_bool(0.5) {
                    Outcome::Won
                } else {
                    Outcome::Lost
                }
            };
            let close = match outcome {
                Outcome::Open(_) => date_between(
                    &mut rng,
                    as_of() + Duration::days(5),
                    as_of() + Duration::days(150),
                ),
                // Forced wins spread over the window; the first is recent (an awarded project).
                Outcome::Won if i == open_stages + 1 => as_of() - Duration::days(12),
                Outcome::Won if i <= open_stages + 3 => {
                    date_between(&mut rng, history_start(), as_of() - Duration::days(90))
                }
                _ => date_between(&mut rng, earliest, as_of()),
            };
            let billing = if outcome == Outcome::Won && won < 3 {
                Billing::ALL[won]
            } else {
                Billing::ALL[weighted(&mut rng, &[55, 30, 15])]
            };
            if outcome == Outcome::Won {
                won += 1;
            }
            let practice = rng.random_range(0..PRACTICES.len());
            let kinds = PRACTICES[practice].project_kinds;
            let title = kinds[rng.random_range(0..kinds.len())];
            let name = format!("{} - {title}", self.clients[client].name);
            let mut start = close + Duration::days(rng.random_range(5..=28));
            if i == open_stages + 1 {
                start = as_of() + Duration::days(14);
            }
            let weeks = match billing {
                Billing::TimeAndMaterials => rng.random_range(10..=40),
                _ => rng.random_range(8..=30),
            };
            let end = start + Duration::weeks(weeks);
            let (modified, mod_secs) = modified_after(&mut rng, close, outcome);
            let oi = self.push_opp(Opp {
                crm,
                id: String::new(),
                client,
                name,
                outcome,
                kind: Kind::NewBusiness,
                billing,
                practice,
                amount: 0.0,
                est_hours: 0.0,
                close,
                start,
                end,
                parent: None,
                removed: false,
                modified,
                mod_secs,
                project: None,
            });
            if outcome == Outcome::Won {
                self.create_project(oi, &mut rng);
            } else {
                self.price_unstaffed(oi, &mut rng);
            }
        }
    }

    /// Est hours and amount of an opportunity without a team (open or lost).
    fn price_unstaffed(&mut self, oi: usize, rng: &mut ChaCha8Rng) {
        let o = &mut self.opps[oi];
        let currency = self.clients[o.client].currency;
        let hours = (rng.random_range(160.0..2400.0_f64) / 10.0).round() * 10.0;
        let rate = 165.0 / base_fx(currency);
        o.est_hours = hours;
        o.amount = round_amount(hours * rate * factor(o.billing, rng));
    }

    /// Staffs a won opportunity's project and prices the opportunity from the team.
    fn create_project(&mut self, oi: usize, rng: &mut ChaCha8Rng) {
        let o = self.opps[oi].clone();
        let currency = self.clients[o.client].currency;
        let mut team = Vec::new();
        let size = 1 + weighted(rng, &[30, 35, 20, 15]);
        for _ in 0..size {
            if let Some(m) = self.pick_member(o.practice, o.start, o.end, currency, rng, true)
                && !team.iter().any(|t: &Member| t.emp == m.emp)
            {
                team.push(m);
            }
        }
        let (hours, value) = self.team_plan(&team);
        let est = (hours / 10.0).round().max(1.0) * 10.0;
        let amount = round_amount(value * factor(o.billing, rng));
        let budget = match o.billing {
            Billing::FixedFee => Some(est),
            _ => rng.random_bool(0.5).then_some(est),
        };
        let pi = self.push_project(Project {
            job_id: String::new(),
            code: String::new(),
            name: o.name.clone(),
            client: o.client,
            status: 2,
            billing: o.billing,
            practice: o.practice,
            start: o.start,
            end: o.end,
            hold_from: None,
            currency,
            opp: Some(oi),
            budget_hours: budget,
            workspace_id: String::new(),
            contract: amount,
            internal: false,
            logs_time: true,
            modified: o.close,
            created: o.close,
            team,
        });
        let op = &mut self.opps[oi];
        op.est_hours = est;
        op.amount = amount;
        op.project = Some(pi);
    }

    /// Expected billable hours and their value at bill rates for a team.
    fn team_plan(&self, team: &[Member]) -> (f64, f64) {
        let mut hours = 0.0;
        let mut value = 0.0;
        for m in team {
            let e = &self.employees[m.emp];
            let h = m.share * weekdays_between(m.start, m.end) as f64 * e.day_hours() * e.util;
            hours += h;
            value += h * m.rate;
        }
        (hours, value)
    }

    /// Picks the least-loaded of a few candidates employed over `[start, end]`.
    fn pick_member(
        &mut self,
        practice: usize,
        start: NaiveDate,
        end: NaiveDate,
        currency: &str,
        rng: &mut ChaCha8Rng,
        load: bool,
    ) -> Option<Member> {
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..24 {
            let e = rng.random_range(0..self.employees.len());
            let emp = &self.employees[e];
            if emp.practice != practice && !rng.random_bool(0.1) {
                continue;
            }
            if emp.hire > start + Duration::days(30)
                || emp.term.is_some_and(|t| t < start + Duration::days(30))
            {
                continue;
            }
            let months = load_months(start.max(emp.hire), end);
            let n = months.len().max(1) as f64;
            let load = months.map(|m| self.loads[e][m]).sum::<f64>() / n;
            if best.is_none_or(|(bl, _)| load < bl) {
                best = Some((load, e));
            }
            if best.is_some_and(|(bl, _)| bl < 0.25) {
                break;
            }
        }
        let (_, e) = best?;
        let emp = &self.employees[e];
        let share = [1.0, 1.0, 0.75, 0.5, 0.5][rng.random_range(0..5)];
        let m_start = start.max(emp.hire);
        let m_end = emp.term.map_or(end, |t| t.min(end));
        if load {
            for m in load_months(m_start, m_end) {
                self.loads[e][m] += share;
            }
        }
        let markup = rng.random_range(1.35..1.95);
        let rate = (emp.cost_usd() * markup / base_fx(currency)).round();
        Some(Member {
            emp: e,
            share,
            rate,
            start: m_start,
            end: m_end,
        })
    }

    /// Change orders and renewals on won new business.
    fn build_followons(&mut self) {
        let mut rng = rng_for(self.seed, "followons", 0);
        let parents: Vec<usize> = (0..self.opps.len())
            .filter(|&i| self.opps[i].project.is_some())
            .collect();
        let mut co_seen = [false; 2];
        let mut rn_seen = [false; 2];
        for oi in parents {
            let crm_i = (self.opps[oi].crm == Crm::HubSpot) as usize;
            let pi = self.opps[oi].project.expect("filtered");
            let (start, end) = (self.projects[pi].start, self.projects[pi].end);
            let force_co = !co_seen[crm_i] && end < as_of();
            if (force_co || rng.random_bool(0.3)) && (end - start).num_days() > 45 {
                let close = date_between(
                    &mut rng,
                    start + Duration::days(30),
                    end - Duration::days(10),
                );
                let weeks = rng.random_range(4..=12);
                co_seen[crm_i] |= self.add_followon(oi, Kind::ChangeOrder, close, weeks, &mut rng);
            }
            let end = self.projects[pi].end;
            let force_rn = !rn_seen[crm_i] && end < as_of() - Duration::days(30);
            if (force_rn || rng.random_bool(0.2)) && end < as_of() + Duration::days(60) {
                let close = end - Duration::days(rng.random_range(0..=21));
                let weeks = rng.random_range(12..=26);
                rn_seen[crm_i] |= self.add_followon(oi, Kind::Renewal, close, weeks, &mut rng);
            }
        }
    }

    /// Adds a change order or renewal of `parent`; returns whether it was won.
    fn add_followon(
        &mut self,
        parent: usize,
        kind: Kind,
        close: NaiveDate,
        weeks: i64,
        rng: &mut ChaCha8Rng,
    ) -> bool {
        let p = self.opps[parent].clone();
        let pi = p.project.expect("parent has a project");
        let open_stages = match p.crm {
            Crm::Salesforce => 8,
            Crm::HubSpot => 5,
        };
        let outcome = if close > as_of() {
            Outcome::Open(rng.random_range(open_stages / 2..open_stages))
        } else if rng.random_bool(0.78) {
            Outcome::Won
        } else {
            Outcome::Lost
        };
        let proj = &self.projects[pi];
        let weekly: f64 = proj
            .team
            .iter()
            .map(|m| {
                let e = &self.employees[m.emp];
                m.share * e.weekly_hours * e.util
            })
            .sum();
        let value_rate: f64 = if weekly > 0.0 {
            proj.team
                .iter()
                .map(|m| {
                    let e = &self.employees[m.emp];
                    m.share * e.weekly_hours * e.util * m.rate
                })
                .sum::<f64>()
                / weekly
        } else {
            150.0 / base_fx(proj.currency)
        };
        let hours = ((weekly * weeks as f64) / 10.0).round().max(1.0) * 10.0;
        let amount = round_amount(hours * value_rate * factor(p.billing, rng));
        let start = proj.end + Duration::days(1);
        let end = proj.end + Duration::weeks(weeks);
        let label = match kind {
            Kind::ChangeOrder => "Change Order",
            _ => "Renewal",
        };
        let (modified, mod_secs) = modified_after(rng, close, outcome);
        self.push_opp(Opp {
            crm: p.crm,
            id: String::new(),
            client: p.client,
            name: format!("{} - {label}", p.name),
            outcome,
            kind,
            billing: p.billing,
            practice: p.practice,
            amount,
            est_hours: hours,
            close,
            start,
            end,
            parent: Some(parent),
            removed: false,
            modified,
            mod_secs,
            project: None,
        });
        if outcome != Outcome::Won {
            return false;
        }
        let proj = &mut self.projects[pi];
        let old_end = proj.end;
        proj.end = end;
        proj.contract += amount;
        proj.modified = proj.modified.max(close);
        if let Some(b) = proj.budget_hours.as_mut() {
            *b += hours;
        }
        for m in &mut proj.team {
            if m.end == old_end && self.employees[m.emp].term.is_none_or(|t| t > end) {
                m.end = end;
            }
        }
        true
    }

    /// Statuses from dates, with on-hold and awarded coverage.
    fn finish_projects(&mut self) {
        let mut rng = rng_for(self.seed, "status", 0);
        for p in self.projects.iter_mut().filter(|p| !p.internal) {
            p.status = if p.start > as_of() {
                5
            } else if p.end < as_of() {
                1
            } else {
                2
            };
            if p.status == 2 && rng.random_bool(0.07) && p.start < as_of() - Duration::days(60) {
                p.status = 6;
                p.hold_from = Some(as_of() - Duration::days(rng.random_range(10..45)));
            }
            p.modified = p.modified.max(p.start.min(as_of()));
            if p.status == 1 {
                p.modified = p.modified.max(p.end + Duration::days(3)).min(as_of());
            }
        }
        if !self.projects.iter().any(|p| p.status == 6)
            && let Some(p) = self
                .projects
                .iter_mut()
                .find(|p| p.status == 2 && !p.internal)
        {
            p.status = 6;
            p.hold_from = Some(as_of() - Duration::days(21));
        }
    }

    /// Pending and not-awarded jobs: set up in the ERP without a won opportunity.
    fn build_extra_jobs(&mut self, n: usize) {
        let mut rng = rng_for(self.seed, "extra-jobs", 0);
        let customers: Vec<usize> = (0..self.clients.len())
            .filter(|&i| !self.is_internal_client(i))
            .collect();
        let pending = ((n as f64) * 0.03).round().max(1.0) as usize;
        let cancelled = ((n as f64) * 0.02).round().max(1.0) as usize;
        for k in 0..pending + cancelled {
            let is_pending = k < pending;
            let client = customers[rng.random_range(0..customers.len())];
            let practice = rng.random_range(0..PRACTICES.len());
            let kinds = PRACTICES[practice].project_kinds;
            let title = kinds[rng.random_range(0..kinds.len())];
            let start = if is_pending {
                as_of() + Duration::days(rng.random_range(20..80))
            } else {
                date_between(&mut rng, history_start(), as_of() - Duration::days(60))
            };
            let end = start + Duration::weeks(rng.random_range(8..20));
            let currency = self.clients[client].currency;
            let mut team = Vec::new();
            for _ in 0..2 {
                if let Some(m) = self.pick_member(practice, start, end, currency, &mut rng, false)
                    && !team.iter().any(|t: &Member| t.emp == m.emp)
                {
                    team.push(m);
                }
            }
            let billing = Billing::ALL[weighted(&mut rng, &[55, 30, 15])];
            let (hours, _) = self.team_plan(&team);
            let budget = (billing == Billing::FixedFee || rng.random_bool(0.5))
                .then(|| (hours / 10.0).round().max(1.0) * 10.0);
            let modified = if is_pending {
                as_of() - Duration::days(rng.random_range(1..20))
            } else {
                start - Duration::days(rng.random_range(1..20))
            };
            self.push_project(Project {
                job_id: String::new(),
                code: String::new(),
                name: format!("{} - {title}", self.clients[client].name),
                client,
                status: if is_pending { 4 } else { 3 },
                billing,
                practice,
                start,
                end,
                hold_from: None,
                currency,
                opp: None,
                budget_hours: budget,
                workspace_id: String::new(),
                contract: 0.0,
                internal: false,
                logs_time: false,
                modified,
                created: modified,
                team,
            });
        }
    }

    /// Deleted Salesforce opportunities and archived HubSpot deals (never won ones).
    fn mark_removed(&mut self) {
        let mut has_child = vec![false; self.opps.len()];
        for o in &self.opps {
            if let Some(p) = o.parent {
                has_child[p] = true;
            }
        }
        let mut rng = rng_for(self.seed, "removed", 0);
        for crm in [Crm::Salesforce, Crm::HubSpot] {
            let mut any = false;
            let candidates: Vec<usize> = (0..self.opps.len())
                .filter(|&i| {
                    let o = &self.opps[i];
                    o.crm == crm
                        && o.outcome != Outcome::Won
                        && o.kind == Kind::NewBusiness
                        && !has_child[i]
                })
                .collect();
            for &i in &candidates {
                if rng.random_bool(0.04) {
                    self.opps[i].removed = true;
                    any = true;
                }
            }
            if !any
                && let Some(&i) = candidates
                    .iter()
                    .rev()
                    .find(|&&i| self.opps[i].outcome == Outcome::Lost)
            {
                self.opps[i].removed = true;
            }
            for &i in &candidates {
                if self.opps[i].removed {
                    let o = &mut self.opps[i];
                    o.modified = o.modified.max(o.close).min(as_of());
                }
            }
        }
    }

    fn add_won_without_project(&mut self) {
        let Some(&client) = self.clients_of(Crm::Salesforce).first() else {
            return;
        };
        let close = as_of() - Duration::days(75);
        let name = format!("{} - Managed Analytics Pilot", self.clients[client].name);
        let mut o = Opp {
            crm: Crm::Salesforce,
            id: String::new(),
            client,
            name,
            outcome: Outcome::Won,
            kind: Kind::NewBusiness,
            billing: Billing::TimeAndMaterials,
            practice: 0,
            amount: 0.0,
            est_hours: 0.0,
            close,
            start: close + Duration::days(14),
            end: close + Duration::weeks(20),
            parent: None,
            removed: false,
            modified: close,
            mod_secs: 15 * 3600,
            project: None,
        };
        o.est_hours = 480.0;
        o.amount = round_amount(480.0 * 175.0 / base_fx(self.clients[client].currency));
        let i = self.push_opp(o);
        // A fixed, documented id independent of the scale.
        self.opps[i].id = sf_id("006", 990_001);
        self.won_without_project = Some(i);
    }

    /// NetSuite customer ids: every HubSpot customer, the internal client, and each Salesforce
    /// account with a won opportunity (plus a few others that bought before the window).
    fn assign_customer_ids(&mut self) {
        let mut rng = rng_for(self.seed, "customers", 0);
        let mut next = 10_001usize;
        let mut buys = vec![false; self.clients.len()];
        for p in &self.projects {
            buys[p.client] = true;
        }
        for o in self.opps.iter().filter(|o| o.outcome == Outcome::Won) {
            buys[o.client] = true;
        }
        for (c, buys) in self.clients.iter_mut().zip(buys) {
            let is_customer = c.crm == Crm::HubSpot || buys || rng.random_bool(0.1);
            if is_customer {
                c.ns_id = Some(next.to_string());
                c.ns_entity = format!("CUS-{:05}", next - 10_000);
                next += 1;
            }
        }
    }
}

/// Price factor of a billing type over the value of the planned hours at bill rates.
fn factor(billing: Billing, rng: &mut ChaCha8Rng) -> f64 {
    match billing {
        Billing::TimeAndMaterials => 1.0,
        Billing::FixedFee => rng.random_range(0.98..1.2),
        Billing::Milestone => rng.random_range(1.0..1.25),
    }
}

fn round_amount(x: f64) -> f64 {
    ((x / 100.0).round() * 100.0).max(100.0)
}

/// When a CRM record was last modified: near the close date for closed ones, recently for open.
fn modified_after(rng: &mut ChaCha8Rng, close: NaiveDate, outcome: Outcome) -> (NaiveDate, u32) {
    let d = match outcome {
        Outcome::Open(_) => as_of() - Duration::days(rng.random_range(0..60)),
        _ => (close + Duration::days(rng.random_range(0..4))).min(as_of()),
    };
    (d, rng.random_range(8 * 3600..19 * 3600))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_ids_are_18_chars_and_unique() {
        let a = sf_id("006", 1);
        let b = sf_id("006", 2);
        assert_eq!(a.len(), 18);
        assert_ne!(a, b);
        assert!(a.starts_with("006"));
    }

    #[test]
    fn same_seed_same_firm() {
        let a = Firm::build(7, 0.05, true);
        let b = Firm::build(7, 0.05, true);
        assert_eq!(a.opps.len(), b.opps.len());
        assert_eq!(a.opps[3].id, b.opps[3].id);
        assert_eq!(a.opps[3].amount, b.opps[3].amount);
        assert!(a.projects.iter().any(|p| p.status == 5));
    }
}
