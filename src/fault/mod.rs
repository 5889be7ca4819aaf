//! Stage 5, faults: faultline's own TCP/HTTP fault proxy, one per dependency edge.
//!
//! A [`Proxy`] listens on ephemeral ports and forwards every connection to an upstream
//! address that can change at run time. Faults are added, changed and removed by name while
//! traffic flows, and take effect on open connections as well as new ones:
//!
//! - connection-level faults ("toxics", `toxic/`, one small module each): latency with
//!   jitter, bandwidth, timeout/blackhole, reset, slicer, limit_data, slow_close, refuse;
//! - HTTP-level faults on HTTP/1.1 edges (`http/`): answer with a status, delay, or drop the
//!   connection mid-response, for the first N, every Nth or p% of the requests matching a
//!   method and path. Other requests pass through byte for byte.
//!
//! Each kind is written, checked and built by its own file, listed once in `spec.rs`'s
//! table. Faults on a service's container (`container/`: pause, kill, stop, disconnect)
//! follow the same pattern; the stack carries out what they ask for.
//!
//! Every random choice draws from the edge's generator, seeded, so the same seed and the same
//! order of requests give the same faults. [`Proxy::observations`] tells what crossed the
//! edge: connections, bytes, requests, attempts, latency percentiles.

mod conn;
pub(crate) mod container;
pub(crate) mod http;
pub mod observe;
pub(crate) mod spec;
mod splice;
pub(crate) mod toxic;
mod wire;
pub(crate) mod written;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use http::HttpSpecError;
pub(crate) use observe::Observations;
pub use spec::{DurationError, Fault, FaultSpec, ParamsError, SpecError};
use toxic::{Direction, Toxic};
pub use toxic::{
    bandwidth::BandwidthError, down::DownError, refuse::RefuseError, slicer::SlicerError, timeout::BlackholeError,
};
pub use written::WrittenError;

/// Everything that can go wrong setting up or changing an edge.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FaultError {
    #[error("cannot listen on {addr}: {source}")]
    #[diagnostic(code(faultline::fault::listen))]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("fault `{name}`: {reason}")]
    #[diagnostic(code(faultline::fault::invalid))]
    Invalid { name: String, reason: spec::SpecError },
    #[error("fault `{name}` is HTTP-level, and edge `{edge}` is not an HTTP edge")]
    #[diagnostic(code(faultline::fault::not_http), help("declare the edge as HTTP (`--http` for `faultline proxy`)"))]
    NotHttp { name: String, edge: String },
}

/// What the client sees when the dependency refuses the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUpstreamRefused {
    /// The client's connection is reset, the closest to a refusal a proxy can give.
    #[default]
    Reset,
    /// The client's connection is closed cleanly.
    Close,
}

/// How to set up an edge.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The edge's name in observations and reports (`orders -> payments`).
    pub name: String,
    /// Addresses to listen on; port 0 picks an ephemeral port, and later addresses reuse
    /// the first one's port when they can.
    pub listen: Vec<SocketAddr>,
    pub upstream: SocketAddr,
    pub seed: u64,
    /// Parse HTTP/1.1, record requests and allow HTTP faults.
    pub http: bool,
    /// Headers that identify a request across retries, lowercase, first present wins.
    pub request_id_headers: Vec<String>,
    pub on_upstream_refused: OnUpstreamRefused,
}

impl ProxyConfig {
    /// A TCP edge on an ephemeral loopback port.
    pub fn new(name: impl Into<String>, upstream: SocketAddr, seed: u64) -> Self {
        ProxyConfig {
            name: name.into(),
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            upstream,
            seed,
            http: false,
            request_id_headers: vec!["idempotency-key".into(), "x-request-id".into()],
            on_upstream_refused: OnUpstreamRefused::Reset,
        }
    }

    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }

    pub fn listen_on(mut self, ips: &[IpAddr]) -> Self {
        self.listen = ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
        self
    }
}

/// An active toxic, as the data path sees it.
#[derive(Debug)]
pub(crate) struct ToxicEntry {
    /// Changes whenever the fault is (re)configured, so connections start it afresh.
    pub id: u64,
    pub name: String,
    pub toxic: Arc<dyn Toxic>,
    pub direction: Direction,
    pub toxicity: f64,
}

/// An active HTTP rule with its match counter.
#[derive(Debug)]
pub(crate) struct RuleEntry {
    pub name: String,
    pub rule: http::HttpRule,
    pub matched: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    pub toxics: Vec<ToxicEntry>,
    pub rules: Vec<Arc<RuleEntry>>,
}

impl FaultSet {
    pub(crate) fn toxics_for(&self, dir: Direction) -> impl Iterator<Item = &ToxicEntry> {
        self.toxics.iter().filter(move |t| t.direction.covers(dir) && !t.toxic.refuses())
    }
}

/// State shared by the edge's accept loop and its connections.
pub(crate) struct Shared {
    pub name: String,
    pub seed: u64,
    pub http: bool,
    pub request_id_headers: Vec<String>,
    pub on_upstream_refused: OnUpstreamRefused,
    pub upstream: RwLock<SocketAddr>,
    pub enabled: AtomicBool,
    /// The configured faults by name, in the order they were added.
    specs: Mutex<Vec<(String, Fault, u64)>>,
    pub faults: watch::Sender<Arc<FaultSet>>,
    /// Bumped to cut every open connection (disable).
    pub cut: watch::Sender<u64>,
    /// While true, a new connection waits before it is forwarded ([`Proxy::hold`]).
    pub held: watch::Sender<bool>,
    pub rng: Mutex<ChaCha8Rng>,
    pub recorder: observe::Recorder,
    pub open: Mutex<std::collections::BTreeMap<u64, Arc<wire::Conn>>>,
    next_id: AtomicU64,
    next_conn: AtomicU64,
}

impl Shared {
    /// A fresh fault id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The next connection's number, from 1.
    pub(crate) fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Draws from the edge's generator.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One edge's proxy. Dropping it (or [`Proxy::shutdown`]) stops accepting and closes every
/// connection.
pub struct Proxy {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    accept: Vec<JoinHandle<()>>,
    /// How it was set up, for [`Proxy::renew`].
    cfg: ProxyConfig,
}

impl Proxy {
    /// Binds the listeners and starts accepting. Must run inside a tokio runtime.
    pub async fn start(cfg: ProxyConfig) -> Result<Proxy, FaultError> {
        let mut listeners = Vec::new();
        let mut port = 0;
        for (i, addr) in cfg.listen.iter().enumerate() {
            let want = if i > 0 && addr.port() == 0 { SocketAddr::new(addr.ip(), port) } else { *addr };
            let l = match bind(want) {
                Ok(l) => l,
                Err(_) if want != *addr => bind(*addr).map_err(|source| FaultError::Listen { addr: *addr, source })?,
                Err(source) => return Err(FaultError::Listen { addr: want, source }),
            };
            if i == 0 {
                port = l.local_addr().map(|a| a.port()).unwrap_or(0);
            }
            listeners.push(l);
        }
        let addrs = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        let kept = cfg.clone();
        let shared = Arc::new(Shared {
            name: cfg.name,
            seed: cfg.seed,
            http: cfg.http,
            request_id_headers: cfg.request_id_headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
            on_upstream_refused: cfg.on_upstream_refused,
            upstream: RwLock::new(cfg.upstream),
            enabled: AtomicBool::new(true),
            specs: Mutex::new(Vec::new()),
            faults: watch::channel(Arc::new(FaultSet::default())).0,
            cut: watch::channel(0).0,
            held: watch::channel(false).0,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed)),
            recorder: observe::Recorder::new(),
            open: Mutex::new(Default::default()),
            next_id: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
        });
        tracing::info!(edge = %shared.name, ?addrs, upstream = %cfg.upstream, seed = cfg.seed, "edge proxy listening");
        let accept = listeners.into_iter().map(|l| tokio::spawn(conn::accept_loop(l, shared.clone()))).collect();
        Ok(Proxy { shared, addrs, accept, cfg: kept })
    }

    /// The same edge as new, on the same addresses and upstream: no faults, no open
    /// connections, nothing observed, its generator back at its seed. What a stack reset
    /// does to every proxy, so a scenario on a reused stack sees what it would on a fresh one.
    pub(crate) async fn renew(&mut self) -> Result<(), FaultError> {
        let mut cfg = self.cfg.clone();
        cfg.listen = self.addrs.clone();
        cfg.upstream = self.upstream();
        self.stop();
        for h in self.accept.drain(..) {
            let _ = h.await;
        }
        *self = Proxy::start(cfg).await?;
        Ok(())
    }

    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    /// Where clients connect, one address per configured listen address.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Points new connections at another upstream (a restarted container's new port).
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.shared.upstream.write().unwrap_or_else(|e| e.into_inner()) = addr;
    }

    pub(crate) fn upstream(&self) -> SocketAddr {
        *self.shared.upstream.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Held: a new connection is accepted and waits, unforwarded, until the hold is released
    /// (at most [`conn::HOLD_AT_MOST`]), then goes to the upstream of that moment. A reset
    /// holds the edges into the dependencies it brings back while their clients start
    /// beside them: a client that calls a dependency as it starts finds it there, a little
    /// slow, as it would on a fresh stack started level by level.
    pub fn hold(&self, held: bool) {
        self.shared.held.send_replace(held);
    }

    /// Disabled: new connections are refused and open ones cut. Enabled again: normal.
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::SeqCst);
        if !enabled {
            self.shared.cut.send_modify(|g| *g += 1);
        }
    }

    /// Adds a fault under `name`, or replaces the fault of that name. Takes effect on open
    /// connections at once; one that [cuts them](toxic::Toxic::cuts_open) cuts them.
    pub(crate) fn add(&self, name: &str, fault: Fault) -> Result<(), FaultError> {
        if matches!(fault, Fault::Http(_)) && !self.shared.http {
            return Err(FaultError::NotHttp { name: name.to_owned(), edge: self.shared.name.clone() });
        }
        let mut specs = self.shared.specs.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.shared.next_id();
        let cuts = matches!(&fault, Fault::Toxic { toxic, .. } if toxic.cuts_open());
        match specs.iter_mut().find(|(n, ..)| n == name) {
            Some(entry) => *entry = (name.to_owned(), fault, id),
            None => specs.push((name.to_owned(), fault, id)),
        }
        self.publish(&specs);
        if cuts {
            // Published first: a client that reconnects at once meets the fault.
            self.shared.cut.send_modify(|g| *g += 1);
        }
        Ok(())
    }

    /// Validates a written fault and adds it.
    pub fn add_spec(&self, name: &str, spec: &FaultSpec) -> Result<(), FaultError> {
        let fault = spec.validate().map_err(|reason| FaultError::Invalid { name: name.to_owned(), reason })?;
        self.add(name, fault)
    }

    /// Removes the fault `name`; returns whether there was one. When it swallowed data
    /// (`timeout`, `blackhole`), the connections open now are cut: bytes of theirs are lost,
    /// so neither end could make sense of what follows (after a real partition heals, TCP
    /// retransmits; a proxy that dropped the bytes cannot).
    pub fn remove(&self, name: &str) -> bool {
        let mut specs = self.shared.specs.lock().unwrap_or_else(|e| e.into_inner());
        let swallowed =
            specs.iter().any(|(n, f, _)| n == name && matches!(f, Fault::Toxic { toxic, .. } if toxic.swallows()));
        let before = specs.len();
        specs.retain(|(n, ..)| n != name);
        let removed = specs.len() != before;
        self.publish(&specs);
        if swallowed {
            self.shared.cut.send_modify(|g| *g += 1);
        }
        removed
    }

    /// Removes every fault.
    pub fn clear(&self) {
        let mut specs = self.shared.specs.lock().unwrap_or_else(|e| e.into_inner());
        specs.clear();
        self.publish(&specs);
    }

    /// Names of the active faults, in the order they were added.
    pub fn faults(&self) -> Vec<String> {
        self.shared.specs.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, ..)| n.clone()).collect()
    }

    fn publish(&self, specs: &[(String, Fault, u64)]) {
        let old = self.shared.faults.borrow().clone();
        let mut set = FaultSet::default();
        for (name, fault, id) in specs {
            match fault {
                Fault::Toxic { toxic, direction, toxicity } => set.toxics.push(ToxicEntry {
                    id: *id,
                    name: name.clone(),
                    toxic: toxic.clone(),
                    direction: *direction,
                    toxicity: *toxicity,
                }),
                Fault::Http(rule) => {
                    // An unchanged rule keeps counting where it was.
                    let kept = old.rules.iter().find(|r| r.name == *name && r.rule == *rule).cloned();
                    set.rules.push(kept.unwrap_or_else(|| {
                        Arc::new(RuleEntry { name: name.clone(), rule: rule.clone(), matched: AtomicU64::new(0) })
                    }));
                }
            }
        }
        self.shared.faults.send_replace(Arc::new(set));
    }

    /// What has crossed the edge so far.
    pub fn observations(&self) -> Observations {
        let open: Vec<_> =
            self.shared.open.lock().unwrap_or_else(|e| e.into_inner()).values().map(|c| c.record()).collect();
        self.shared.recorder.snapshot(&self.shared.name, self.shared.seed, open)
    }

    /// Stops accepting and closes every open connection.
    pub async fn shutdown(mut self) {
        self.stop();
        for h in self.accept.drain(..) {
            let _ = h.await;
        }
    }

    fn stop(&mut self) {
        for h in &self.accept {
            h.abort();
        }
        self.shared.enabled.store(false, Ordering::SeqCst);
        self.shared.cut.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
