//! One writer per lake: the lock object `_pslake/lock`.
//!
//! Every writing command (`run`, `extract`, `build`, `maintain`, each run of `schedule`) takes
//! the lock before it writes and releases it at the end. The lock is created with a
//! put-if-absent (`PutMode::Create`, atomic on a local disk and on S3, GCS and Azure), and holds
//! who took it: pid, host, command, time.
//! A second writer waits (polling) up to a given time, then fails naming the holder. A lock whose
//! process is gone on this host (a writer killed before it could release) is stale: it is taken
//! over, with a warning. A lock from another host cannot be checked and is never taken over.
//!
//! Limit: two writers taking over the same stale lock at the same moment may both delete it
//! before one of them creates it again; the put-if-absent still lets only one create it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::{Error, Lake, Result};

/// The lock object, under the lake root.
pub const LOCK_PATH: &str = "_pslake/lock";

/// Who holds a lake's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The process id.
    pub pid: u32,
    /// The host name.
    pub host: String,
    /// The command, e.g. `run`.
    pub command: String,
    /// When the lock was taken.
    pub started_at: DateTime<Utc>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pslake {} (pid {} on {}, since {})",
            self.command,
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// A held lake lock; [`LakeLock::release`] it when done (a process that dies without releasing
/// leaves a stale lock the next writer on the same host takes over).
#[derive(Debug)]
#[must_use = "release the lock when the writes are done"]
pub struct LakeLock {
    store: std::sync::Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    url: String,
    holder: LockHolder,
}

impl LakeLock {
    /// Who holds it (this process).
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// Deletes the lock object (a failure is logged: the lock then goes stale with this process).
    pub async fn release(self) {
        if let Err(error) = self.store.delete(&self.path).await {
            tracing::warn!(lock = %self.url, %error, "could not release the lake lock");
        }
    }
}

/// This host's name (empty parts never: `unknown` when it cannot be read).
pub(crate) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// Whether process `pid` of this host is alive (a zombie is not). Without `/proc` every process
/// counts as alive, so no lock is taken over.
fn pid_alive(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

impl Lake {
    /// Takes the lake's lock for `command`, waiting up to `wait` for another writer to release
    /// it; fails with [`Error::Locked`] naming the holder after that.
    pub async fn lock(&self, command: &str, wait: Duration) -> Result<LakeLock> {
        let (store, base) = self.root_store()?;
        let path = object_store::path::Path::from_iter(
            base.parts()
                .map(|p| p.as_ref().to_string())
                .chain(LOCK_PATH.split('/').map(str::to_string)),
        );
        let url = format!("{}{LOCK_PATH}", self.root());
        let holder = LockHolder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            started_at: Utc::now(),
        };
        let body = serde_json::to_vec(&holder).expect("a lock holder serializes");
        let object_err = |action: &str, source| Error::Object {
            action: action.to_string(),
            url: url.clone(),
            source: Box::new(source),
        };
        let start = Instant::now();
        let mut logged = false;
        loop {
            let put = store
                .put_opts(
                    &path,
                    PutPayload::from(body.clone()),
                    PutOptions::from(PutMode::Create),
                )
                .await;
            match put {
                Ok(_) => {
                    tracing::debug!(lock = %url, "lake lock taken");
                    return Ok(LakeLock {
                        store,
                        path,
                        url,
                        holder,
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(object_err("taking the lake lock", e)),
            }
            let current = match store.get(&path).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map_err(|e| object_err("reading the lake lock", e))?,
                // released between our put and get: try again at once
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(object_err("reading the lake lock", e)),
            };
            let current: Option<LockHolder> = serde_json::from_slice(&current).ok();
            if let Some(c) = &current
                && c.host == holder.host
                && !pid_alive(c.pid)
            {
                tracing::warn!(lock = %url, stale = %c, "taking over a stale lake lock: its process is gone");
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => return Err(object_err("deleting a stale lake lock", e)),
                }
            }
            let who = current
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "an unreadable lock".into());
            let waited = start.elapsed();
            if waited >= wait {
                return Err(Error::Locked {
                    holder: who,
                    url,
                    waited_s: waited.as_secs(),
                });
            }
            if !logged {
                tracing::warn!(lock = %url, holder = %who, wait_s = wait.as_secs(), "the lake is locked by another writer, waiting");
                logged = true;
            }
            tokio::time::sleep((wait - waited).min(Duration::from_millis(200))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_writer_waits_is_refused_or_takes_over_a_stale_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let first = lake.lock("run", Duration::ZERO).await.expect("first lock");
        assert_eq!(first.holder().pid, std::process::id());

        // held by a live process (this one): refused after the wait, naming the holder
        let err = lake
            .lock("build", Duration::from_millis(300))
            .await
            .expect_err("second writer refused");
        let msg = err.to_string();
        assert!(matches!(err, Error::Locked { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pslake run (pid {}", std::process::id())),
            "{msg}"
        );

        // released while the second waits: it gets the lock
        let lake2 = lake.clone();
        let waiter =
            tokio::spawn(async move { lake2.lock("build", Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        first.release().await;
        let second = waiter.await.expect("join").expect("lock after release");
        assert_eq!(second.holder().command, "build");
        second.release().await;

        // a lock left by a dead process of this host is taken over
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = LockHolder {
            pid: dead,
            host: host_name(),
            command: "run".into(),
            started_at: Utc::now(),
        };
        let lock_file = dir.path().join("_pslake").join("lock");
        fs_err::create_dir_all(lock_file.parent().expect("parent")).expect("mkdir");
        fs_err::write(&lock_file, serde_json::to_vec(&stale).expect("json")).expect("write");
        let taken = lake
            .lock("extract", Duration::ZERO)
            .await
            .expect("stale lock taken over");
        let now: LockHolder =
            serde_json::from_slice(&fs_err::read(&lock_file).expect("read")).expect("json");
        assert_eq!(now.pid, std::process::id());
        assert_eq!(now.command, "extract");
        taken.release().await;
        assert!(!lock_file.exists());

        // a lock of another host is never taken over
        let foreign = LockHolder {
            host: format!("{}-elsewhere", host_name()),
            ..stale
        };
        fs_err::write(&lock_file, serde_json::to_vec(&foreign).expect("json")).expect("write");
        let err = lake
            .lock("run", Duration::ZERO)
            .await
            .expect_err("foreign lock kept");
        assert!(err.to_string().contains("-elsewhere"), "{err}");
    }
}
