//! One place owns how long-running work ends: its deadline, an interruption (Ctrl-C,
//! SIGTERM), and removing what it started when it does not end by itself. The gate's
//! `--timeout` and the command line's signals both go through [`supervise`].

use std::future::Future;
use std::time::Duration;

/// How supervised work ended.
#[derive(Debug)]
pub enum Ended<T> {
    Done(T),
    /// The deadline passed first.
    TimedOut,
    /// The interruption came first.
    Interrupted,
}

/// Runs `work` until it ends, `limit` passes, or `interrupt` completes. In the last two
/// cases the work is dropped (its host processes are killed with it) and what it started
/// is removed: the containers and networks of run `run`, or every one this process made.
pub async fn supervise<T>(
    work: impl Future<Output = T>,
    limit: Option<Duration>,
    interrupt: impl Future<Output = ()>,
    run: Option<&str>,
) -> Ended<T> {
    let deadline = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        r = work => return Ended::Done(r),
        _ = deadline => Ended::TimedOut,
        _ = interrupt => Ended::Interrupted,
    };
    remove_leftovers(run).await;
    ended
}

/// Removes what an interrupted or failed command started: one run's objects, or every
/// object this process made. (Its watchdogs would also remove them once it exits.)
pub async fn remove_leftovers(run: Option<&str>) {
    use crate::stack::docker::{Scope, client, sweep};
    if let Ok(docker) = client().await {
        let _ = sweep(&docker, run.map_or(Scope::Mine, Scope::Run)).await;
    }
}
