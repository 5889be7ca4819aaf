//! Restart in place: a `recreate` service brought back by killing its process and starting
//! the same container again (same image, environment, network and aliases), when that is
//! provably a fresh start; else it is removed and created again as always.
//!
//! A fresh container is its image, Docker's init layer and an empty writable layer. A killed
//! container is that exactly when its writable layer holds nothing: every file it created,
//! changed, renamed, chmodded or deleted (a whiteout) lives there, including what its first
//! start wrote, so an empty layer is what a fresh container starts on. The layer is read on
//! the host (the `UpperDir` the engine reports for `overlay2` and `fuse-overlayfs`) after the
//! kill, when nothing in the container can write any more; `docker diff` would say the same
//! but took 1.9-2.9 s on the relay image under `fuse-overlayfs` (it compares whole trees
//! there). A restart is refused, and the container removed, when the proof cannot be had or
//! something would survive it that a new container would not have:
//!
//! - the layer is not empty, or cannot be read (another storage driver, an engine whose disk
//!   faultline does not see);
//! - the container has a mount (an anonymous volume of the image's `VOLUME` is new in a new
//!   container; a bind or named volume is the same in both, but nothing here proves it);
//! - it has rendered `files:` (copied into its writable layer at creation);
//! - it is not running unpaused on the run's network alone (a scenario cut it off or
//!   paused it and did not undo it);
//! - its readiness is a log line (the old log still holds it).
//!
//! A restart whose start or readiness fails falls back to a removal and a creation too.
//!
//! A container whose first process is faultline's init ([`init`]) is not killed: its init
//! kills every other process in it and, once the layer is proven empty, starts the program
//! again, behind the same ports. What copying the init in at creation left in the layer
//! (the init itself, unchanged, and the engine's `.pivot_root` whiteout) is allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use futures_util::future::join_all;

use super::{ResetError, fail};
use crate::config::Service;
use crate::stack::{Stack, StackError, init, log_bytes, read_ports, ready};

/// Why a service is not restarted in place (not an error: it is created again).
#[derive(Debug)]
struct Refused(String);

impl From<&str> for Refused {
    fn from(s: &str) -> Refused {
        Refused(s.to_owned())
    }
}

impl From<init::InitError> for Refused {
    fn from(e: init::InitError) -> Refused {
        Refused(e.to_string())
    }
}

impl From<String> for Refused {
    fn from(s: String) -> Refused {
        Refused(s)
    }
}

/// Storage drivers whose `UpperDir` is the container's writable layer.
const LAYERED: [&str; 2] = ["overlay2", "fuse-overlayfs"];

impl Stack {
    /// Stops the `recreate` services `names` of a reset, all at once: each that can come back
    /// by a restart in place is killed and kept; every other is removed. Returns the ones kept.
    pub(super) async fn stop_for_reset(&self, names: &[String]) -> Result<BTreeSet<String>, ResetError> {
        let jobs = names.iter().map(|name| async move {
            let kept = match self.kill_for_restart(name).await {
                Ok(()) => true,
                Err(why) => {
                    tracing::info!(service = %name, why = %why.0, "reset: recreate");
                    self.remove_one(name).await?;
                    false
                }
            };
            Ok::<_, ResetError>((name.clone(), kept))
        });
        let mut kept = BTreeSet::new();
        for r in join_all(jobs).await {
            let (name, k) = r?;
            if k {
                kept.insert(name);
            }
        }
        Ok(kept)
    }

    /// Kills a service's container when a restart in place is sound for it, proving after the
    /// kill that its writable layer is empty. `Err`: why not (its container may be killed).
    async fn kill_for_restart(&self, name: &str) -> Result<(), Refused> {
        let r = self.services.get(name).ok_or("not in the stack")?;
        refusal(&r.svc)?;
        let id = r.container.id();
        let inspect = self.docker.inspect_container(id, None).await.map_err(|e| e.to_string())?;
        let state = inspect.state.clone().unwrap_or_default();
        if state.running != Some(true) || state.paused == Some(true) {
            return Err("its container is not running unpaused".into());
        }
        if inspect.mounts.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err("its container has a mount".into());
        }
        let networks: Vec<String> = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| n.keys().cloned().collect())
            .unwrap_or_default();
        if networks != [self.network.clone()] {
            return Err(Refused(format!("its container is on the networks {networks:?}")));
        }
        let upper = writable_layer(inspect.graph_driver.as_ref())?;
        if init::runs_first(&inspect) {
            // Its init kills every other process of the container and stays.
            let pid = state.pid.filter(|p| *p > 0).ok_or("the engine names no process of it")?;
            init::stop_all(&self.docker, id, pid).await?;
        } else {
            self.docker
                .kill_container(id, None::<testcontainers::bollard::query_parameters::KillContainerOptions>)
                .await
                .map_err(|e| format!("kill: {e}"))?;
            let after = self.docker.inspect_container(id, None).await.map_err(|e| e.to_string())?;
            if after.state.and_then(|s| s.running) != Some(false) {
                return Err("still running after the kill".into());
            }
        }
        match first_entry(&upper).await {
            Ok(None) => Ok(()),
            Ok(Some(path)) => {
                let inside = Path::new("/").join(path.strip_prefix(&upper).unwrap_or(&path));
                Err(Refused(format!("its container changed {} (and maybe more)", inside.display())))
            }
            Err(e) => Err(Refused(format!("cannot read its writable layer {}: {e}", upper.display()))),
        }
    }

    /// Starts a killed service's container again and waits until it is ready, as on its
    /// first start; returns its published ports (they may change) and the length of its logs
    /// before this start (not the next scenario's).
    pub(super) async fn restart_one(&self, name: &str) -> Result<(BTreeMap<u16, u16>, (usize, usize)), StackError> {
        let r = self.running(name)?;
        let (out, err) = log_bytes(&r.container).await;
        let start = |reason: String| StackError::Start { service: name.to_owned(), reason };
        let timeout = self.opts.ready_timeout;
        let inspect = self.docker.inspect_container(r.container.id(), None).await.map_err(|e| start(e.to_string()))?;
        let ports = if init::runs_first(&inspect) && inspect.state.and_then(|s| s.running) == Some(true) {
            // Its init runs still: the program starts again behind the same ports.
            init::start(&self.docker, r.container.id()).await.map_err(|e| start(e.to_string()))?;
            r.ports.clone()
        } else {
            r.container.start().await.map_err(|e| start(e.to_string()))?;
            read_ports(name, &r.container, &r.svc.ports, timeout).await?
        };
        let probe = self.probe_of(name, &r.svc, &ports, &r.container).await?;
        ready::wait(name, &r.container, &probe, timeout).await?;
        Ok((ports, (out.len(), err.len())))
    }

    /// Removes one service's container (with its anonymous volumes).
    pub(super) async fn remove_one(&self, name: &str) -> Result<(), ResetError> {
        let id = self.services.get(name).map(|r| r.container.id().to_owned());
        let id = id.ok_or_else(|| fail(name)("not in the stack".into()))?;
        let opts = testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        self.docker.remove_container(&id, Some(opts)).await.map_err(|e| fail(name)(e.to_string()))
    }
}

/// Whether a service's container could ever be restarted in place, by what its
/// configuration says (its container is checked at each reset).
pub(crate) fn could_restart(svc: &Service) -> bool {
    refusal(svc).is_ok()
}

/// Why the configuration of a service rules a restart in place out.
fn refusal(svc: &Service) -> Result<(), Refused> {
    if svc.ready.as_ref().is_some_and(|x| x.log.is_some()) {
        return Err("its readiness is a log line".into());
    }
    if !svc.files.is_empty() {
        return Err("it has rendered files".into());
    }
    Ok(())
}

/// The container's writable layer on this host, when its storage driver has one faultline
/// can read (the layer's directory beside it holds overlay's `work` directory).
fn writable_layer(driver: Option<&testcontainers::bollard::models::DriverData>) -> Result<PathBuf, Refused> {
    let driver = driver.ok_or("the engine names no storage driver")?;
    if !LAYERED.contains(&driver.name.as_str()) {
        return Err(Refused(format!("its storage driver is {}", driver.name)));
    }
    let upper = PathBuf::from(driver.data.get("UpperDir").ok_or("the engine names no writable layer")?);
    let work = upper.parent().map(|p| p.join("work"));
    if !upper.is_dir() || !work.is_some_and(|w| w.is_dir()) {
        return Err(Refused(format!("its writable layer {} is not on this host", upper.display())));
    }
    Ok(upper)
}

/// The first entry of a writable layer but what copying faultline's init in left, if any.
async fn first_entry(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(e) = entries.next_entry().await? {
        if !init::left_by_the_copy(&e.path(), dir) {
            return Ok(Some(e.path()));
        }
    }
    Ok(None)
}
