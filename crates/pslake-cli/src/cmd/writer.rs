//! The common start of every writing command (`run`, `extract`, `build`): take the lake's lock,
//! then roll forward a release a crashed writer left half published, then write; release the lock
//! at the end, on success and on error alike.

use std::future::Future;
use std::time::Duration;

use pslake_lake::Lake;

/// How long a writer waits for the lake's lock.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LockArgs {
    /// Seconds to wait for another writer of the same lake to finish before failing
    #[arg(
        long,
        env = "PSLAKE_LOCK_WAIT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub(crate) lock_wait: u64,
}

/// Runs `work` as the lake's one writer: lock, recover interrupted releases, `work`, unlock.
pub(crate) async fn locked<T>(
    lake: &Lake,
    command: &str,
    lock: &LockArgs,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let guard = lake
        .lock(command, Duration::from_secs(lock.lock_wait))
        .await?;
    let result = async {
        for run_id in lake.recover().await? {
            tracing::warn!(%run_id, "completed the release an interrupted build left half published");
        }
        work.await
    }
    .await;
    guard.release().await;
    result
}
