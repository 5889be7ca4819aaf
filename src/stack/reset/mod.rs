//! Reuse of a stack between scenarios: [`Stack::checkpoint`] once after the first start,
//! [`Stack::reset`] before every later scenario, each reset proven by a fingerprint.
//!
//! Every service has a [`ResetKind`], declared (`reset:` in faultline.yaml) or found from
//! what runs in its container:
//!
//! - `recreate` (the generic path, and every service faultline knows nothing about): a fresh
//!   process on a fresh filesystem, waited for as on a first start. When its container
//!   wrote nothing (its writable layer is empty after the kill, it has no mount, no rendered
//!   file, no log-line readiness: see [`restart`]) it is killed and the same container started
//!   again ("restarted in place"); else it is removed and created again from its image, with
//!   the same environment, so nothing it wrote survives. [`Stack::last_reset`] says which.
//! - `postgres` ([`postgres`]): every database is copied to a template at the checkpoint and
//!   the ones that changed are restored from it; the server keeps running (no start-up to
//!   wait for).
//! - `redis` ([`redis`]): every key is dumped at the checkpoint and restored after a
//!   `FLUSHALL`.
//!
//! The checkpoint is taken level by level while the stack starts (before the services that
//! call a level start), or, for a stack started without it, once afterwards with its
//! `recreate` services stopped. A reset first cuts every proxy it renews (the `recreate`
//! services are the clients: none of them reaches a database being restored), then, at once,
//! stops the `recreate` services (each is killed and kept when it can be restarted in place,
//! else removed) and restores the stateful services, comparing their fingerprints with the
//! checkpoint's. It renews every proxy (no fault, nothing observed, the generator at its
//! seed), then brings the `recreate` services back all at once (started in place, or created
//! again; a failed start in place falls back to a removal and a creation), the edges into
//! each held until it is ready, and compares their `fingerprint:` commands' output. Each
//! phase's time is logged (`RUST_LOG=faultline=info`: stop, restore and proof; proxies;
//! start). A fingerprint that differs, or any step that fails, is a [`ResetError`]: the
//! caller discards the stack and starts a fresh one.

pub(crate) mod postgres;
pub(crate) mod redis;
mod restart;
pub(crate) use restart::could_restart;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use futures_util::future::join_all;
use miette::Diagnostic;

use super::{Plan, Stack, log_bytes};
pub(crate) use crate::config::ResetKind;
pub use redis::RedisError;

/// Why a stack could not be reset; the stack must not be used again.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ResetError {
    #[error("cannot reset `{service}`: {reason}")]
    #[diagnostic(code(faultline::stack::reset))]
    Failed { service: String, reason: String },

    #[error("cannot reset `{service}`: {source}")]
    #[diagnostic(code(faultline::stack::reset))]
    Redis { service: String, source: redis::RedisError },

    #[error("`{service}` is not as it was after the first start: {detail}")]
    #[diagnostic(code(faultline::stack::fingerprint))]
    Mismatch { service: String, detail: String },

    #[error("the stack was never checkpointed")]
    #[diagnostic(code(faultline::stack::no_checkpoint))]
    NoCheckpoint,
}

/// How a reset brought the `recreate` services back ([`Stack::last_reset`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetPaths {
    /// Killed and started again in place: their containers' writable layers were empty.
    pub restarted: Vec<String>,
    /// Removed and created again.
    pub recreated: Vec<String>,
}

/// What a reset returns a stack to: each service's kind, saved state and fingerprint.
#[derive(Debug)]
pub(crate) struct Baseline {
    services: BTreeMap<String, Kept>,
}

#[derive(Debug)]
struct Kept {
    kind: ResetKind,
    state: Saved,
    /// The fingerprint of its state right after the checkpoint.
    fingerprint: Fingerprint,
    /// The directories of its data, left out of the fingerprint of its files.
    data: Vec<String>,
}

/// The state a stateful service is restored to.
#[derive(Debug)]
enum Saved {
    None,
    Postgres(postgres::Snapshot),
    Redis(redis::Snapshot),
}

/// Parts of a service's fingerprint by name, each compared on its own so a mismatch says
/// which part differs.
pub(crate) type Fingerprint = BTreeMap<String, String>;

impl Stack {
    /// Takes the baseline that later resets return to. Runs once, right after the stack first
    /// became ready; the stack is then as a reset leaves it. `recreate` services are removed
    /// and created again when a database has to be copied (no connection may be open to it).
    pub(crate) async fn checkpoint(&mut self) -> Result<(), ResetError> {
        if self.baseline.is_some() {
            // Taken while the stack started (`Start::checkpoint`).
            return Ok(());
        }
        let t = Instant::now();
        let mut kinds = BTreeMap::new();
        for name in self.services.keys() {
            kinds.insert(name.clone(), self.kind_of(name).await?);
        }
        let quiet = kinds.values().any(|k| *k == ResetKind::Postgres);
        let recreate: Vec<String> =
            kinds.iter().filter(|(_, k)| **k == ResetKind::Recreate).map(|(n, _)| n.clone()).collect();
        if quiet {
            self.remove_containers(&recreate).await?;
        }
        let this = &*self;
        let saves = kinds.iter().filter(|(_, k)| **k != ResetKind::Recreate).map(|(name, kind)| async move {
            let saved = match kind {
                ResetKind::Postgres => Saved::Postgres(postgres::snapshot(this, name).await?),
                ResetKind::Redis => {
                    Saved::Redis(redis::snapshot(this.published_main(name)?).await.map_err(redis_fail(name))?)
                }
                ResetKind::Recreate => Saved::None,
            };
            Ok::<_, ResetError>((name.clone(), saved))
        });
        let mut saved: BTreeMap<String, Saved> = BTreeMap::new();
        for r in join_all(saves).await {
            let (name, s) = r?;
            saved.insert(name, s);
        }
        // Stateful services are fingerprinted before their clients come back, as a reset
        // compares them.
        let mut services = BTreeMap::new();
        for (name, kind) in kinds.iter().filter(|(_, k)| **k != ResetKind::Recreate) {
            let (fingerprint, data) = self.fingerprint(name, *kind, None).await?;
            let state = saved.remove(name).unwrap_or(Saved::None);
            services.insert(name.clone(), Kept { kind: *kind, state, fingerprint, data });
        }
        if quiet {
            self.create_again(&recreate, &Default::default()).await?;
        }
        for name in &recreate {
            let (fingerprint, data) = self.fingerprint(name, ResetKind::Recreate, None).await?;
            services.insert(name.clone(), Kept { kind: ResetKind::Recreate, state: Saved::None, fingerprint, data });
        }
        self.baseline = Some(Baseline { services });
        self.mark();
        tracing::info!(took = ?t.elapsed(), "stack checkpointed");
        Ok(())
    }

    /// The checkpoint of one start level, taken as soon as it is up and before the services
    /// that call it start (`Start::checkpoint`): the state a fresh stack's services
    /// find when they start, so a reset that restores it and starts them again is a fresh
    /// start for them. Nothing has to be stopped for it.
    pub(crate) async fn checkpoint_level(&mut self, level: &[String]) -> Result<(), ResetError> {
        let t = Instant::now();
        let this = &*self;
        let jobs = level.iter().map(|name| async move {
            let kind = this.kind_of(name).await?;
            let state = match kind {
                ResetKind::Postgres => Saved::Postgres(postgres::snapshot(this, name).await?),
                ResetKind::Redis => {
                    Saved::Redis(redis::snapshot(this.published_main(name)?).await.map_err(redis_fail(name))?)
                }
                ResetKind::Recreate => Saved::None,
            };
            let (fingerprint, data) = this.fingerprint(name, kind, None).await?;
            Ok::<_, ResetError>((name.clone(), Kept { kind, state, fingerprint, data }))
        });
        let mut kept = Vec::new();
        for r in join_all(jobs).await {
            kept.push(r?);
        }
        let baseline = self.baseline.get_or_insert_with(|| Baseline { services: BTreeMap::new() });
        baseline.services.extend(kept);
        tracing::info!(?level, took = ?t.elapsed(), "level checkpointed");
        Ok(())
    }

    /// Returns the stack to its checkpoint and proves it: see the module's documentation.
    /// Returns the seconds it took.
    pub async fn reset(&mut self) -> Result<f64, ResetError> {
        let t = Instant::now();
        let baseline = self.baseline.take().ok_or(ResetError::NoCheckpoint)?;
        let ours = self.monitor.ours(None);
        let r = self.reset_to(&baseline).await;
        drop(ours);
        for (name, running) in &self.services {
            self.monitor.track(running.container.id(), name);
        }
        self.baseline = Some(baseline);
        r?;
        Ok(t.elapsed().as_secs_f64())
    }

    async fn reset_to(&mut self, baseline: &Baseline) -> Result<(), ResetError> {
        let of = |want: fn(ResetKind) -> bool| -> Vec<String> {
            baseline.services.iter().filter(|(_, k)| want(k.kind)).map(|(n, _)| n.clone()).collect()
        };
        let kept = self.untouched(baseline).await;
        let recreate: Vec<String> =
            of(|k| k == ResetKind::Recreate).into_iter().filter(|n| !kept.contains(n)).collect();
        // A stateful service nothing reached is as its last proof left it: neither restored
        // nor fingerprinted again.
        let restore: Vec<String> = of(|k| k != ResetKind::Recreate).into_iter().filter(|n| !kept.contains(n)).collect();
        if !kept.is_empty() {
            tracing::info!(?kept, "kept: nothing reached them since the last reset");
        }
        let t = Instant::now();
        let lap = |what: &str, t: &mut Instant| {
            tracing::info!(phase = what, took = ?t.elapsed(), "reset");
            *t = Instant::now();
        };
        let mut t = t;
        self.last_reset = ResetPaths::default();
        // A scenario may have paused, stopped or cut off a stateful service and failed to
        // undo it; such a stack is not reused.
        for name in &restore {
            let running = self.running(name).map_err(|e| fail(name)(e.to_string()))?;
            let inspect = self
                .docker
                .inspect_container(running.container.id(), None)
                .await
                .map_err(|e| fail(name)(e.to_string()))?;
            let state = inspect.state.unwrap_or_default();
            if state.running != Some(true) || state.paused == Some(true) {
                return Err(fail(name)("its container is not running".into()));
            }
        }
        // Every proxy that is renewed is cut first (open connections closed, new ones
        // refused): the services being stopped reach nothing through them any more, so the
        // stateful services are restored and proven while they stop, not after. (One that
        // reached a database past its proxy could still write into the restore: its proof
        // would then fail, and the stack be discarded.)
        for p in self.edges.values().chain(self.services.values().map(|r| &r.ingress)) {
            if renews(p.name(), &kept) {
                p.set_enabled(false);
            }
        }
        let this = &*self;
        let proofs = join_all(restore.iter().map(|name| this.restore_and_prove(name, &baseline.services[name])));
        let (restart, proofs) = tokio::join!(this.stop_for_reset(&recreate), proofs);
        let restart = restart?;
        for r in proofs {
            r?;
        }
        lap("stop, restore and proof", &mut t);
        self.renew_proxies(&kept).await?;
        lap("proxies", &mut t);
        self.create_again(&recreate, &restart).await?;
        lap("start", &mut t);
        let kept_recreate = kept.iter().filter(|n| baseline.services[*n].kind == ResetKind::Recreate);
        for name in recreate.iter().chain(kept_recreate) {
            let kept = &baseline.services[name];
            compare(name, &kept.fingerprint, &self.fingerprint(name, kept.kind, Some(&kept.data)).await?.0)?;
        }
        // Logs of the services kept running start afresh for the next scenario.
        for name in restore.iter().chain(&kept) {
            if let Some(r) = self.services.get_mut(name) {
                let (out, err) = log_bytes(&r.container).await;
                r.log_from = (out.len(), err.len());
            }
        }
        self.mark();
        Ok(())
    }

    /// The services a reset may keep as they are, because nothing of the last scenario
    /// reached them (a stateful one is then neither restored nor fingerprinted again: nothing
    /// could have changed it since its last proof): no connection opened and no byte crossed any proxy they are an
    /// end of (their ingress, every edge into or out of them), and no fault sits there;
    /// faultline did not reach them past their proxies (a published port, a command in the
    /// container, a container fault); their container runs, unpaused; and every service they
    /// depend on is kept too, or is a stateful service nothing reached either (a restore could
    /// cut connections they hold). What a service never received cannot have changed it: it
    /// is as it was when the stack was last made ready, which a fresh start would give.
    /// Services are only ever reached through faultline's doors (proxies, published ports,
    /// `docker exec`), so this needs nothing from inside them.
    async fn untouched(&self, baseline: &Baseline) -> std::collections::BTreeSet<String> {
        let mut kept = std::collections::BTreeSet::new();
        let Some(marks) = &self.marks else { return kept };
        let now = self.activity();
        let reached = self.reached.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let faulted: Vec<&str> = self
            .edges
            .values()
            .chain(self.services.values().map(|r| &r.ingress))
            .filter(|p| !p.faults().is_empty())
            .map(|p| p.name())
            .collect();
        // Every proxy with an end at `name` kept still since the mark.
        let still = |name: &str| {
            !reached.contains(name)
                && now.iter().all(|(proxy, activity)| {
                    let ends = proxy.split_once(" -> ").is_some_and(|(a, b)| a == name || b == name);
                    !ends || (marks.get(proxy) == Some(activity) && !faulted.contains(&proxy.as_str()))
                })
        };
        let mut quiet = std::collections::BTreeSet::new();
        for name in self.levels.iter().flatten() {
            let (Some(_), Some(r)) = (baseline.services.get(name), self.services.get(name)) else { continue };
            if !still(name) {
                continue;
            }
            let deps_kept =
                r.svc.depends_on.keys().filter(|d| self.services.contains_key(*d)).all(|d| quiet.contains(d));
            if !deps_kept {
                continue;
            }
            let state = self.docker.inspect_container(r.container.id(), None).await.ok().and_then(|i| i.state);
            if state.is_some_and(|s| s.running == Some(true) && s.paused != Some(true)) {
                quiet.insert(name.clone());
                kept.insert(name.clone());
            }
        }
        kept
    }

    /// The declared kind of a service, else the one found from its processes.
    async fn kind_of(&self, name: &str) -> Result<ResetKind, ResetError> {
        let r = self.running(name).map_err(|e| fail(name)(e.to_string()))?;
        if let Some(k) = r.svc.reset {
            return Ok(k);
        }
        let top = self.docker.top_processes(r.container.id(), None).await.map_err(|e| fail(name)(e.to_string()))?;
        let commands: Vec<String> =
            top.processes.unwrap_or_default().into_iter().filter_map(|p| p.last().cloned()).collect();
        Ok(detect(&commands))
    }

    /// The host address of a service's first port, bypassing its ingress proxy.
    fn published_main(&self, name: &str) -> Result<SocketAddr, ResetError> {
        let r = self.running(name).map_err(|e| fail(name)(e.to_string()))?;
        let port = r.svc.ports.first().and_then(|p| r.ports.get(p)).copied();
        port.map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
            .ok_or_else(|| fail(name)("it publishes no port to reach it on".into()))
    }

    /// Restores a stateful service to its checkpoint and proves it, as [`Stack::fingerprint`]
    /// with its data directories known: its kind's fingerprint after the restore
    /// (PostgreSQL's read in the restore's own exec), the files outside its data (listed
    /// meanwhile: a restore does not touch them) and its `fingerprint:` command.
    async fn restore_and_prove(&self, name: &str, kept: &Kept) -> Result<(), ResetError> {
        let restored = async {
            match &kept.state {
                Saved::Postgres(snap) => postgres::restore(self, name, snap, &kept.fingerprint).await,
                Saved::Redis(snap) => {
                    let addr = self.published_main(name)?;
                    redis::restore(addr, snap).await.map_err(redis_fail(name))?;
                    Ok((redis::fingerprint(addr).await.map_err(redis_fail(name))?, Vec::new()))
                }
                Saved::None => self.of_kind(name, kept.kind).await,
            }
        };
        let (now, _) = self.fingerprint_after(name, kept.kind, Some(&kept.data), restored).await?;
        compare(name, &kept.fingerprint, &now)
    }

    /// A service's kind's own fingerprint and data directories.
    async fn of_kind(&self, name: &str, kind: ResetKind) -> Result<(Fingerprint, Vec<String>), ResetError> {
        match kind {
            ResetKind::Postgres => postgres::fingerprint(self, name).await,
            ResetKind::Redis => {
                Ok((redis::fingerprint(self.published_main(name)?).await.map_err(redis_fail(name))?, Vec::new()))
            }
            ResetKind::Recreate => Ok((Fingerprint::new(), Vec::new())),
        }
    }

    /// A service's fingerprint: its kind's, the files its container changed outside its data
    /// (for services kept running), and the output of its `fingerprint:` command; and the
    /// directories of its data. With the data directories known (from the checkpoint), the
    /// files are listed while the kind's fingerprint is taken, and the directories must not
    /// have moved.
    async fn fingerprint(
        &self,
        name: &str,
        kind: ResetKind,
        known: Option<&[String]>,
    ) -> Result<(Fingerprint, Vec<String>), ResetError> {
        self.fingerprint_after(name, kind, known, self.of_kind(name, kind)).await
    }

    /// [`Stack::fingerprint`] with the kind's part from `of_kind`.
    async fn fingerprint_after(
        &self,
        name: &str,
        kind: ResetKind,
        known: Option<&[String]>,
        of_kind: impl std::future::Future<Output = Result<(Fingerprint, Vec<String>), ResetError>>,
    ) -> Result<(Fingerprint, Vec<String>), ResetError> {
        // Redis keeps no data on disk here (`--save ""`): its data directories are none.
        let known = if kind == ResetKind::Redis { Some(&[][..]) } else { known };
        let (mut fp, data) = match (kind, known) {
            (ResetKind::Recreate, _) => of_kind.await?,
            (_, Some(known)) => {
                let (k, files) = tokio::join!(of_kind, self.files(name, known));
                let (mut fp, data) = k?;
                if data != known {
                    let detail = format!("its data directories were {known:?} and are {data:?}");
                    return Err(ResetError::Mismatch { service: name.to_owned(), detail });
                }
                fp.insert("files outside its data".into(), files?);
                (fp, data)
            }
            (_, None) => {
                let (mut fp, data) = of_kind.await?;
                fp.insert("files outside its data".into(), self.files(name, &data).await?);
                (fp, data)
            }
        };
        let r = self.running(name).map_err(|e| fail(name)(e.to_string()))?;
        if let Some(cmd) = &r.svc.fingerprint {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (code, out) = self.exec(name, &args).await.map_err(|e| fail(name)(e.to_string()))?;
            fp.insert(format!("`{}`", cmd.join(" ")), format!("exit {code}: {out}"));
        }
        Ok((fp, data))
    }

    /// Every file of the container's own filesystem outside `data`: type, path, size and
    /// modification time (directories: type and path; their contents speak for them), sorted (`find -xdev` in the container: `docker diff` took 2.6 s on
    /// the PostgreSQL image, this 0.2 s).
    async fn files(&self, name: &str, data: &[String]) -> Result<String, ResetError> {
        // Its data and sockets (under either spelling of /run), and the files Docker writes
        // into every container when it starts (a restart rewrites them).
        let mut dirs: Vec<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].map(String::from).to_vec();
        for d in data {
            dirs.push(d.clone());
            if let Some(rest) = d.strip_prefix("/var/run/") {
                dirs.push(format!("/run/{rest}"));
            }
        }
        let prune: Vec<String> = dirs.iter().map(|d| format!("-path '{}'", d.replace('\'', ""))).collect();
        let script = format!(
            "command -v find >/dev/null || exit 127; find / -xdev \\( {} \\) -prune -o -type d -printf '%y %p\\n' -o -printf '%y %p %s %T@\\n' 2>/dev/null | LC_ALL=C sort",
            if prune.is_empty() { "-path /nonexistent".to_owned() } else { prune.join(" -o ") }
        );
        let (code, out) = self.exec(name, &["sh", "-c", &script]).await.map_err(|e| fail(name)(e.to_string()))?;
        if code != 0 || out.is_empty() {
            return Err(fail(name)(format!("cannot list its files (exit {code}): {}", clip(&out))));
        }
        Ok(out)
    }

    /// Removes the containers of `names`, all at once.
    async fn remove_containers(&mut self, names: &[String]) -> Result<(), ResetError> {
        for r in join_all(names.iter().map(|name| self.remove_one(name))).await {
            r?;
        }
        Ok(())
    }

    /// Brings the containers of `names` back, all at once: those in `restart` (killed, their
    /// writable layers empty) started in place, falling back to a removal when that fails;
    /// the others created again. Waits until each is ready and points its ingress and every
    /// edge into it at its new ports. Until then the edges into it are held
    /// ([`crate::fault::Proxy::hold`]): a service that calls a dependency while it starts waits
    /// for it, as a start level by level would have made it wait, without the levels' starts
    /// adding up (a reset of a deep stack costs its slowest start, not their sum).
    async fn create_again(&mut self, names: &[String], restart: &BTreeSet<String>) -> Result<(), ResetError> {
        let order: Vec<String> = self.levels.iter().flatten().filter(|n| names.contains(n)).cloned().collect();
        for ((_, to), proxy) in &self.edges {
            if names.contains(to) {
                proxy.hold(true);
            }
        }
        let this = &*self;
        let back = if self.opts.sequential_start {
            // One at a time, dependencies first (`RunOptions::sequential_start`, to compare).
            let mut back = Vec::new();
            for name in &order {
                back.push(this.back_and_release(name, restart.contains(name)).await);
            }
            back
        } else {
            join_all(order.iter().map(|name| this.back_and_release(name, restart.contains(name)))).await
        };
        for (name, back) in order.iter().zip(back) {
            let back = back?;
            let r = self.services.get_mut(name).ok_or_else(|| fail(name)("not in the stack".into()))?;
            match back {
                Back::Restarted { ports, logs } => {
                    r.ports = ports;
                    r.log_from = logs;
                    tracing::info!(service = %name, "reset: restarted in place");
                    self.last_reset.restarted.push(name.clone());
                }
                Back::Created { container, ports } => {
                    // The old container is gone already; forget it without a second removal.
                    let old = std::mem::replace(&mut r.container, *container);
                    std::mem::forget(old);
                    r.ports = ports;
                    r.log_from = (0, 0);
                    self.last_reset.recreated.push(name.clone());
                }
            }
        }
        Ok(())
    }

    /// [`Stack::bring_back`], then the edges into it pointed at it and released (on a failure
    /// too: its clients then meet a dependency that is not there).
    async fn back_and_release(&self, name: &str, restart: bool) -> Result<Back, ResetError> {
        let back = self.bring_back(name, restart).await;
        if let Ok(Back::Restarted { ports, .. } | Back::Created { ports, .. }) = &back {
            self.point_at(name, ports);
        }
        for ((_, to), proxy) in &self.edges {
            if to == name {
                proxy.hold(false);
            }
        }
        back
    }

    /// One service of [`Stack::create_again`] back: started in place when `restart` says it
    /// can be (else, or when that fails, removed), else created again; ready.
    async fn bring_back(&self, name: &str, restart: bool) -> Result<Back, ResetError> {
        if restart {
            match self.restart_one(name).await {
                Ok((ports, logs)) => return Ok(Back::Restarted { ports, logs }),
                Err(e) => {
                    tracing::info!(service = %name, error = %e, "reset: restart in place failed, recreate");
                    self.remove_one(name).await?;
                }
            }
        }
        let r = self.services.get(name).ok_or_else(|| fail(name)("not in the stack".into()))?;
        let plan = Plan { name, svc: &r.svc, image: r.image.clone() };
        let (container, ports) = self.create(&plan, &self.opts).await.map_err(|e| fail(name)(e.to_string()))?;
        Ok(Back::Created { container: Box::new(container), ports })
    }

    /// How the last reset brought the `recreate` services back.
    pub fn last_reset(&self) -> &ResetPaths {
        &self.last_reset
    }

    /// Points a service's ingress and every edge into it at `ports` (container port to host
    /// port).
    fn point_at(&self, service: &str, ports: &BTreeMap<u16, u16>) {
        let Some(r) = self.services.get(service) else { return };
        if let Some(main) = r.svc.ports.first().and_then(|p| ports.get(p)) {
            r.ingress.set_upstream(SocketAddr::from((Ipv4Addr::LOCALHOST, *main)));
        }
        for ((from, to), proxy) in &self.edges {
            if to == service
                && let Some(host) = self.edge_ports.get(&(from.clone(), to.clone())).and_then(|p| ports.get(p))
            {
                proxy.set_upstream(SocketAddr::from((Ipv4Addr::LOCALHOST, *host)));
            }
        }
    }

    /// Every proxy as new, on the same addresses, but those with an end at a service `kept`
    /// (they carried nothing since the last reset, and hold no fault: as new already; a
    /// connection the kept service holds through one stays open, as on a fresh stack).
    async fn renew_proxies(&mut self, kept: &std::collections::BTreeSet<String>) -> Result<(), ResetError> {
        let proxies = self.edges.values_mut().chain(self.services.values_mut().map(|r| &mut r.ingress));
        for p in proxies {
            if !renews(p.name(), kept) {
                continue;
            }
            p.renew().await.map_err(|e| ResetError::Failed { service: p.name().to_owned(), reason: e.to_string() })?;
        }
        Ok(())
    }
}

/// Whether a reset renews the proxy `name` (`from -> to`): unless an end of it is a service
/// the reset keeps (it carried nothing since the last reset and holds no fault: as new
/// already).
fn renews(name: &str, kept: &BTreeSet<String>) -> bool {
    !name.split_once(" -> ").is_some_and(|(a, b)| kept.contains(a) || kept.contains(b))
}

/// A `recreate` service back after a reset.
enum Back {
    Restarted { ports: BTreeMap<u16, u16>, logs: (usize, usize) },
    Created { container: Box<testcontainers::ContainerAsync<testcontainers::GenericImage>>, ports: BTreeMap<u16, u16> },
}

/// The kind of a service from the commands running in its container.
pub(crate) fn detect(commands: &[String]) -> ResetKind {
    let runs = |program: &str| {
        commands.iter().any(|c| {
            c.split_whitespace().next().is_some_and(|first| first.rsplit('/').next() == Some(program))
                || c.starts_with(&format!("{program}:"))
        })
    };
    if runs("postgres") || runs("postmaster") {
        ResetKind::Postgres
    } else if runs("redis-server") {
        ResetKind::Redis
    } else {
        ResetKind::Recreate
    }
}

fn compare(service: &str, before: &Fingerprint, after: &Fingerprint) -> Result<(), ResetError> {
    for (part, want) in before {
        let got = after.get(part).map_or("(missing)", String::as_str);
        if got != want {
            let detail = if want.contains('\n') || got.contains('\n') {
                let was: std::collections::BTreeSet<&str> = want.lines().collect();
                let now: std::collections::BTreeSet<&str> = got.lines().collect();
                let added = now.difference(&was).next().map(|l| format!("new: {}", clip(l)));
                let gone = was.difference(&now).next().map(|l| format!("gone: {}", clip(l)));
                format!("{part}: {}", added.into_iter().chain(gone).collect::<Vec<_>>().join("; "))
            } else {
                format!("{part}: was {}, now {}", clip(want), clip(got))
            };
            return Err(ResetError::Mismatch { service: service.to_owned(), detail });
        }
    }
    if let Some(part) = after.keys().find(|k| !before.contains_key(*k)) {
        return Err(ResetError::Mismatch { service: service.to_owned(), detail: format!("{part} is new") });
    }
    Ok(())
}

/// At most 300 characters of a fingerprint part, for a reason.
fn clip(s: &str) -> String {
    let s = if s.is_empty() { "(nothing)" } else { s };
    let mut out: String = s.chars().take(300).collect::<String>().replace('\n', "; ");
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

fn fail(service: &str) -> impl Fn(String) -> ResetError + '_ {
    move |reason| ResetError::Failed { service: service.to_owned(), reason }
}

fn redis_fail(service: &str) -> impl Fn(redis::RedisError) -> ResetError + '_ {
    move |source| ResetError::Redis { service: service.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_from_the_processes() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(detect(&v(&["postgres -D /var/lib/postgresql/data -c fsync=off"])), ResetKind::Postgres);
        assert_eq!(detect(&v(&["/usr/lib/postgresql/15/bin/postgres -D /data"])), ResetKind::Postgres);
        assert_eq!(detect(&v(&["postgres: checkpointer "])), ResetKind::Postgres);
        assert_eq!(detect(&v(&["redis-server 0.0.0.0:6379"])), ResetKind::Redis);
        assert_eq!(detect(&v(&["payments"])), ResetKind::Recreate);
        assert_eq!(detect(&v(&["python3 /relay.py --postgres"])), ResetKind::Recreate);
        assert_eq!(detect(&[]), ResetKind::Recreate);
    }

    #[test]
    fn a_mismatch_names_the_part_that_differs() {
        let a: Fingerprint = [("rows".to_owned(), "3".to_owned())].into();
        let b: Fingerprint = [("rows".to_owned(), "4".to_owned())].into();
        assert!(compare("db", &a, &a).is_ok());
        let e = compare("db", &a, &b).unwrap_err().to_string();
        assert!(e.contains("rows: was 3, now 4"), "{e}");
        let c: Fingerprint = [("rows".to_owned(), "3".to_owned()), ("files".to_owned(), "A /tmp/x".to_owned())].into();
        assert!(compare("db", &a, &c).unwrap_err().to_string().contains("files is new"));
    }
}
