//! Fixed reference data of the synthetic firm: practices, countries and currencies, job levels,
//! lifecycle values of each vendor, names.

/// A delivery practice.
pub(crate) struct Practice {
    pub(crate) name: &'static str,
    pub(crate) cost_center: &'static str,
    pub(crate) project_kinds: &'static [&'static str],
    pub(crate) notes: &'static [&'static str],
}

pub(crate) const PRACTICES: &[Practice] = &[
    Practice {
        name: "Data & Analytics",
        cost_center: "CC4100 Data & Analytics Delivery",
        project_kinds: &[
            "Data Platform Implementation",
            "Lakehouse Migration",
            "BI Modernization",
            "Data Governance Program",
        ],
        notes: &[
            "Data model workshop",
            "Pipeline development",
            "Dashboard build",
            "Data quality checks",
            "Stakeholder review",
        ],
    },
    Practice {
        name: "Cloud",
        cost_center: "CC4200 Cloud Delivery",
        project_kinds: &[
            "Cloud Migration",
            "Landing Zone Build",
            "Platform Engineering",
            "Cost Optimization Review",
        ],
        notes: &[
            "Infrastructure as code",
            "Migration wave planning",
            "Cutover rehearsal",
            "Security baseline",
            "Runbook update",
        ],
    },
    Practice {
        name: "Strategy",
        cost_center: "CC4300 Strategy Consulting",
        project_kinds: &[
            "Operating Model Design",
            "Digital Strategy",
            "Due Diligence",
            "Transformation Office",
        ],
        notes: &[
            "Executive interviews",
            "Market analysis",
            "Steering committee prep",
            "Business case modelling",
            "Workshop facilitation",
        ],
    },
    Practice {
        name: "ERP",
        cost_center: "CC4400 ERP Delivery",
        project_kinds: &[
            "ERP Implementation",
            "Finance Transformation",
            "Order-to-Cash Redesign",
            "ERP Upgrade",
        ],
        notes: &[
            "Configuration",
            "Fit-gap analysis",
            "Data conversion",
            "User acceptance testing",
            "Integration testing",
        ],
    },
    Practice {
        name: "Cybersecurity",
        cost_center: "CC4500 Cyber Delivery",
        project_kinds: &[
            "Security Assessment",
            "Identity Program",
            "SOC Uplift",
            "Zero Trust Roadmap",
        ],
        notes: &[
            "Threat modelling",
            "Control testing",
            "Identity design",
            "Remediation planning",
            "Policy review",
        ],
    },
];

/// An office country: ISO 3166 alpha-2, its ISO 4217 currency, the Kantata offset of its
/// timestamps, a cost multiplier against the US and its standard full-time week.
pub(crate) struct Country {
    pub(crate) code: &'static str,
    pub(crate) currency: &'static str,
    pub(crate) offset: &'static str,
    pub(crate) cost_factor: f64,
    pub(crate) full_time_hours: f64,
    pub(crate) domain: &'static str,
}

/// Employee countries (weights in [`COUNTRY_WEIGHTS`]).
pub(crate) const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        currency: "USD",
        offset: "-05:00",
        cost_factor: 1.0,
        full_time_hours: 40.0,
        domain: "meridianpartners.com",
    },
    Country {
        code: "GB",
        currency: "GBP",
        offset: "+00:00",
        cost_factor: 0.92,
        full_time_hours: 37.5,
        domain: "meridianpartners.co.uk",
    },
    Country {
        code: "DE",
        currency: "EUR",
        offset: "+01:00",
        cost_factor: 0.95,
        full_time_hours: 40.0,
        domain: "meridianpartners.de",
    },
    Country {
        code: "IN",
        currency: "INR",
        offset: "+05:30",
        cost_factor: 0.35,
        full_time_hours: 40.0,
        domain: "meridianpartners.in",
    },
    Country {
        code: "CA",
        currency: "CAD",
        offset: "-05:00",
        cost_factor: 0.88,
        full_time_hours: 37.5,
        domain: "meridianpartners.ca",
    },
];

pub(crate) const COUNTRY_WEIGHTS: &[u32] = &[45, 15, 12, 18, 10];

/// Customer countries and their currencies (customers pay in their own currency).
pub(crate) const CUSTOMER_COUNTRIES: &[(&str, &str, u32)] = &[
    ("US", "USD", 50),
    ("GB", "GBP", 14),
    ("DE", "EUR", 10),
    ("FR", "EUR", 5),
    ("NL", "EUR", 4),
    ("IN", "INR", 7),
    ("CA", "CAD", 10),
];

/// Treasury currencies (non-USD), alphabetical, with their base `usd_per_unit`.
pub(crate) const FX_BASE: &[(&str, f64)] = &[
    ("CAD", 0.7350),
    ("EUR", 1.0900),
    ("GBP", 1.2700),
    ("INR", 0.011_900),
];

/// A job level: Workday job profile, hourly cost in USD, billable-utilization target, weight.
pub(crate) struct Level {
    pub(crate) profile: &'static str,
    pub(crate) cost_usd: f64,
    pub(crate) util: f64,
    pub(crate) weight: u32,
}

pub(crate) const LEVELS: &[Level] = &[
    Level {
        profile: "Analyst",
        cost_usd: 42.0,
        util: 0.80,
        weight: 15,
    },
    Level {
        profile: "Consultant",
        cost_usd: 58.0,
        util: 0.79,
        weight: 25,
    },
    Level {
        profile: "Senior Consultant",
        cost_usd: 74.0,
        util: 0.77,
        weight: 25,
    },
    Level {
        profile: "Manager",
        cost_usd: 92.0,
        util: 0.72,
        weight: 15,
    },
    Level {
        profile: "Senior Manager",
        cost_usd: 112.0,
        util: 0.64,
        weight: 10,
    },
    Level {
        profile: "Director",
        cost_usd: 135.0,
        util: 0.52,
        weight: 6,
    },
    Level {
        profile: "Partner",
        cost_usd: 170.0,
        util: 0.40,
        weight: 4,
    },
];

/// Salesforce default `StageName` values and their default probabilities; the last two are
/// closed (won, lost).
pub(crate) const SF_STAGES: &[(&str, f64)] = &[
    ("Prospecting", 10.0),
    ("Qualification", 10.0),
    ("Needs Analysis", 20.0),
    ("Value Proposition", 50.0),
    ("Id. Decision Makers", 60.0),
    ("Perception Analysis", 70.0),
    ("Proposal/Price Quote", 75.0),
    ("Negotiation/Review", 90.0),
    ("Closed Won", 100.0),
    ("Closed Lost", 0.0),
];

/// HubSpot default-pipeline `dealstage` ids and `hs_deal_stage_probability`; the last two are
/// closed (won, lost).
pub(crate) const HS_STAGES: &[(&str, &str)] = &[
    ("appointmentscheduled", "0.2"),
    ("qualifiedtobuy", "0.4"),
    ("presentationscheduled", "0.6"),
    ("decisionmakerboughtin", "0.8"),
    ("contractsent", "0.9"),
    ("closedwon", "1"),
    ("closedlost", "0"),
];

pub(crate) const INDUSTRIES: &[&str] = &[
    "Banking",
    "Insurance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Energy",
    "Technology",
    "Media",
    "Transportation",
    "Government",
];

pub(crate) const COMPANY_A: &[&str] = &[
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Acme",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Massive",
    "Nakatomi",
    "Monarch",
    "Sterling",
    "Pendant",
    "Krusty",
    "Dunder",
    "Prestige",
    "Virtucon",
    "Zorg",
    "Blue Sun",
    "Abstergo",
    "Ingen",
    "Weyland",
    "Rekall",
    "Omni",
    "Genco",
    "Bluth",
];

pub(crate) const COMPANY_B: &[&str] = &[
    "Industries",
    "Corporation",
    "Holdings",
    "Group",
    "Bank",
    "Insurance",
    "Health",
    "Energy",
    "Logistics",
    "Retail",
    "Systems",
    "Partners",
];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Jane", "Omar", "Priya", "Alex", "Maria", "Chen", "Lukas", "Aisha", "Tom", "Sofia", "Ravi",
    "Emma", "Noah", "Hannah", "Mateo", "Olivia", "Arjun", "Grace", "Felix", "Chloe", "Daniel",
    "Ines", "Kenji", "Laura", "Samuel", "Anika", "Leon", "Fatima", "Ethan", "Zoe", "Vikram",
    "Clara", "Jonas", "Meera", "Oliver", "Nina", "Ahmed", "Julia", "Marcus", "Leila",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Doe", "Haddad", "Nair", "Kim", "Garcia", "Wang", "Muller", "Khan", "Smith", "Rossi", "Patel",
    "Brown", "Johnson", "Schmidt", "Lopez", "Taylor", "Sharma", "Wilson", "Fischer", "Martin",
    "Clarke", "Weber", "Tanaka", "Moreau", "Evans", "Gupta", "Becker", "Ali", "Walker", "Novak",
    "Iyer", "Hughes", "Wagner", "Reddy", "Scott", "Bauer", "Hassan", "Young", "Campbell", "Lee",
];

pub(crate) const TASK_TITLES: &[&str] = &[
    "Discovery & requirements",
    "Current-state assessment",
    "Solution design",
    "Build sprint 1",
    "Build sprint 2",
    "Testing",
    "Training & handover",
    "Hypercare",
];

pub(crate) const EXPENSE_CATEGORIES: &[&str] =
    &["Travel", "Lodging", "Meals", "Software", "Subcontractor"];

/// NetSuite's currency records: internal id, ISO code (`symbol`), name. Customers, jobs and
/// transactions carry the internal id; the ids of the first four are NetSuite's defaults.
pub(crate) const NS_CURRENCIES: &[(&str, &str, &str)] = &[
    ("1", "USD", "US Dollar"),
    ("2", "GBP", "British pound"),
    ("3", "CAD", "Canadian Dollar"),
    ("4", "EUR", "Euro"),
    ("5", "INR", "Indian Rupee"),
    ("6", "CHF", "Swiss Franc"),
    ("7", "AUD", "Australian Dollar"),
    ("8", "JPY", "Japanese Yen"),
    ("9", "SGD", "Singapore Dollar"),
];

/// The NetSuite internal id of the currency with ISO code `code` (the code itself when NetSuite
/// has no such currency record, so a fixture can carry an unknown currency on purpose).
pub(crate) fn ns_currency_id(code: &str) -> String {
    NS_CURRENCIES
        .iter()
        .find(|(_, c, _)| *c == code)
        .map_or(code, |(id, _, _)| id)
        .to_owned()
}
