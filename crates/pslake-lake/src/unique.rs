//! A raw table whose primary key is proven unique by its own commit log.
//!
//! A landing tags each of its commits with [`landing_metadata`]: the run, the stream's primary
//! key and how many records of the run so far repeated a key an earlier record of the run had.
//! [`unique_key`] reads a table's log back: when every commit from the table's creation to the
//! version read is that one run's (maintenance commits aside, which change no row) and its
//! last says no key repeated, each key has one row at that version, and staging's "latest row
//! per key" has nothing to choose (`pslake-transform`'s `latest_row` then plans no sort).
//!
//! Invariant: a claim is only ever read from the log, never assumed. Any commit of another
//! run, of another writer, an untagged one, a log file cleaned up, or more than
//! [`MAX_COMMITS`] commits to read: no claim, and the key is deduplicated as before.

use deltalake::DeltaTable;
use deltalake::kernel::CommitInfo;
use serde::{Deserialize, Serialize};

/// The commit-metadata key of a landing's tag.
pub const LANDING_KEY: &str = "pslake.landing";

/// Commits read back at most to prove a key unique (a first landing of 7.8M records commits
/// about 32 chunks).
pub const MAX_COMMITS: u64 = 1024;

/// A landing's tag on one of its commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandingTag {
    /// The run that landed the commit.
    pub run: String,
    /// The stream's primary key columns.
    pub key: Vec<String>,
    /// Records of the run so far (this commit's included) whose key an earlier record of the
    /// run had.
    pub repeats: u64,
}

/// The commit metadata holding `tag`.
pub fn landing_metadata(tag: &LandingTag) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        LANDING_KEY.into(),
        serde_json::to_value(tag).expect("a landing tag is JSON"),
    );
    m
}

/// The primary key of `table` (as loaded, at its version) when its log proves each key has
/// one row; `None` otherwise (see the module docs). Reading the log fails quietly: no claim.
pub async fn unique_key(table: &DeltaTable) -> Option<Vec<String>> {
    let version = table.version()?;
    if version >= MAX_COMMITS {
        return None;
    }
    let store = table.log_store();
    let last = tag_of(&commit_info(store.as_ref(), version).await?)?;
    if last.repeats != 0 {
        return None;
    }
    for v in 0..version {
        let info = commit_info(store.as_ref(), v).await?;
        if crate::lake::is_maintenance(info.operation.as_deref()) {
            continue;
        }
        if tag_of(&info)?.run != last.run {
            return None;
        }
    }
    Some(last.key)
}

fn tag_of(info: &CommitInfo) -> Option<LandingTag> {
    serde_json::from_value(info.info.get(LANDING_KEY)?.clone()).ok()
}

/// The `commitInfo` action of commit `version`, if its log file is there and holds one.
async fn commit_info(
    store: &dyn deltalake::logstore::LogStore,
    version: u64,
) -> Option<CommitInfo> {
    let bytes = store.read_commit_entry(version).await.ok()??;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.lines().find_map(|line| {
        #[derive(Deserialize)]
        struct Line {
            #[serde(rename = "commitInfo")]
            commit_info: CommitInfo,
        }
        serde_json::from_str::<Line>(line)
            .ok()
            .map(|l| l.commit_info)
    })
}
