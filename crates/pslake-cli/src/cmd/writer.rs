//! The common start of every writing command (`run`, `extract`, `build`, `maintain`, and each
//! run of `schedule`): take the lake's lock, then roll forward a release a crashed writer left
//! half published, then write; release the lock at the end, on success and on error alike.

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
/// (`work`, a whole command, is boxed: the future of the command stays small.)
pub(crate) fn locked<T>(
    lake: &Lake,
    command: &str,
    lock: &LockArgs,
    work: impl Future<Output = anyhow::Result<T>>,
) -> impl Future<Output = anyhow::Result<T>> {
    let work = Box::pin(work);
    async move {
        let done = locked_until(lake, command, lock, work, std::future::pending()).await?;
        Ok(done.expect("a pending future never abandons the work"))
    }
}

/// [`locked`], with `work` (or the wait for the lock) dropped when `abandon` completes first:
/// then `Ok(None)`, and the lock is released. `abandon` must not complete while the lake is
/// publishing ([`Lake::is_publishing`]), so what is dropped is at worst a run killed before its
/// publish: the next writer finishes what it left (as after a crash) and the tables keep their
/// last complete release.
pub(crate) async fn locked_until<T>(
    lake: &Lake,
    command: &str,
    lock: &LockArgs,
    work: impl Future<Output = anyhow::Result<T>>,
    abandon: impl Future<Output = ()>,
) -> anyhow::Result<Option<T>> {
    let mut abandon = std::pin::pin!(abandon);
    let guard = tokio::select! {
        guard = lake.lock(command, Duration::from_secs(lock.lock_wait)) => guard?,
        () = &mut abandon => return Ok(None),
    };
    let result = async {
        for run_id in lake.recover().await? {
            tracing::warn!(%run_id, "completed the release an interrupted build left half published");
        }
        tokio::select! {
            result = work => result.map(Some),
            () = &mut abandon => Ok(None),
        }
    }
    .await;
    guard.release().await;
    result
}
