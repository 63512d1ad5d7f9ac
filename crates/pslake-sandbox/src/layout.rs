//! The fixture directory layout (SPEC section 6).
//!
//! A fixture directory holds one JSON-lines file per stream, `<system>/<stream>.jsonl`, each line
//! one record exactly as the vendor's API returns it inside its envelope; treasury CSV files
//! `treasury/fx_rates_YYYY-MM.csv`; and `manifest.json` with `as_of` and `history_start`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One API stream served by the sandbox: `(system, stream)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The system, e.g. `salesforce`.
    pub system: &'static str,
    /// The stream, e.g. `Opportunity`.
    pub stream: &'static str,
}

/// Every API stream of SPEC sections 2 and 4b, in a stable order. The treasury drop is files, not
/// a stream of records, and is listed separately ([`TREASURY_DIR`]). A fixture directory may lack
/// any of them: the sandbox serves a missing file as an empty stream (HubSpot's deal histories
/// are not a stream of their own: they ride on `hubspot/deals.jsonl`, `propertiesWithHistory`).
pub const STREAMS: &[StreamId] = &[
    StreamId {
        system: "salesforce",
        stream: "Account",
    },
    StreamId {
        system: "salesforce",
        stream: "Opportunity",
    },
    StreamId {
        system: "salesforce",
        stream: "OpportunityHistory",
    },
    StreamId {
        system: "hubspot",
        stream: "deals",
    },
    StreamId {
        system: "netsuite",
        stream: "customer",
    },
    StreamId {
        system: "netsuite",
        stream: "job",
    },
    StreamId {
        system: "netsuite",
        stream: "currency",
    },
    StreamId {
        system: "netsuite",
        stream: "transaction",
    },
    StreamId {
        system: "netsuite",
        stream: "transactionline",
    },
    StreamId {
        system: "kantata",
        stream: "workspaces",
    },
    StreamId {
        system: "kantata",
        stream: "users",
    },
    StreamId {
        system: "kantata",
        stream: "time_entries",
    },
    StreamId {
        system: "kantata",
        stream: "workspace_resources",
    },
    StreamId {
        system: "kantata",
        stream: "workspace_allocations",
    },
    StreamId {
        system: "kantata",
        stream: "stories",
    },
    StreamId {
        system: "workday",
        stream: "Workers",
    },
    StreamId {
        system: "workday",
        stream: "Time_Off",
    },
    StreamId {
        system: "workday",
        stream: "Holidays",
    },
    StreamId {
        system: "workday",
        stream: "Worker_History",
    },
];

/// The folder, inside a fixture directory, of the treasury drop (`fx_rates_YYYY-MM.csv`).
pub const TREASURY_DIR: &str = "treasury";

/// The file name of the manifest inside a fixture directory.
pub const MANIFEST_FILE: &str = "manifest.json";

impl StreamId {
    /// The JSON-lines file of this stream inside fixture directory `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.system).join(format!("{}.jsonl", self.stream))
    }
}

/// `manifest.json`: the dates that bound the firm's series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run's `as_of` date (`YYYY-MM-DD`).
    pub as_of: chrono::NaiveDate,
    /// The first reported date (`YYYY-MM-DD`).
    pub history_start: chrono::NaiveDate,
    /// Anything else the writer put there (generator name, seed, scale), kept as is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
