//! Stage 4, the stack: the services a plan needs, in real containers, wired through the
//! fault proxy, started level by level with every service of a level at once.
//!
//! Each `depends_on` edge `a -> b` gets a [`Proxy`] in this process, listening on loopback
//! and on the Docker bridge gateway; `a`'s environment variable points at it as
//! `b:<port>`, where the name `b` resolves inside `a`'s container to that gateway (no
//! `host.docker.internal`, nothing that names faultline), and it forwards to `b`'s published
//! port. Every service also
//! gets an ingress proxy (`host -> b`) that tests and workloads on the host use. Everything
//! created carries the run's labels; a watchdog process removes it all if faultline dies.

pub mod docker;
pub(crate) mod host;
pub(crate) mod image;
mod init;
mod interference;
pub(crate) mod overlap;
mod ready;
pub(crate) mod reset;
pub mod sandbox;
mod watchdog;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use miette::Diagnostic;
use testcontainers::bollard::Docker;
use testcontainers::core::{Host, IntoContainerPort};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::config::{Config, Service};
use crate::fault::container::ContainerOp;
use crate::fault::{FaultError, Proxy, ProxyConfig};
use crate::outcome::CommandLog;
pub(crate) use image::ImageRef;
pub(crate) use ready::Probe;
pub use reset::{RedisError, ResetError};
use watchdog::Watchdog;

/// Everything that can go wrong bringing a stack up or acting on it.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum StackError {
    #[error("the Docker Engine does not answer: {reason}")]
    #[diagnostic(
        code(faultline::stack::no_docker),
        help("start it (systemctl start docker, or dockerd as root), check DOCKER_HOST, then run ci/bootstrap")
    )]
    NoDocker { reason: String },

    #[error(
        "DOCKER_HOST is {docker_host}: a Docker Engine on another machine. faultline's fault proxies listen on \
         this machine, and containers there could not reach them (every edge would time out)"
    )]
    #[diagnostic(
        code(faultline::stack::remote_engine),
        help(
            "run faultline where the engine runs: a runner with a local Docker Engine or the docker socket \
             mounted, or inside the docker:dind container itself (see docs/ci.md)"
        )
    )]
    RemoteEngine { docker_host: String },

    #[error("the image of `{service}` failed to build from {}: {reason}\n--- last lines of the build ---\n{log}", dir.display())]
    #[diagnostic(code(faultline::stack::build))]
    Build { service: String, dir: PathBuf, reason: String, log: String },

    #[error(
        "the image {image} of `{service}` is not what faultline built from its build context: {found}; it was \
         retagged or built by something else, so it cannot stand in for the code under test"
    )]
    #[diagnostic(
        code(faultline::stack::foreign_image),
        help("remove it (`docker rmi {image}`) and run again: faultline builds it from the context")
    )]
    ForeignImage { service: String, image: String, found: String },

    #[error("`prepare` of `{service}` failed: {command}\n--- last lines of its output ---\n{output}")]
    #[diagnostic(code(faultline::stack::prepare))]
    Prepare { service: String, command: String, output: String },

    #[error(
        "{what} would run code of the change on the runner, where it can reach the Docker socket, the runner's \
         credentials and faultline itself; faultline.yaml on the base branch declares no `isolation:`"
    )]
    #[diagnostic(
        code(faultline::stack::not_isolated),
        help(
            "declare where it runs: `isolation: {{ image: <builder context>, rust: true, writable: [<build output dirs>] }}`, \
             or opt out in writing: `isolation: {{ on_runner: \"why\" }}` (every report then says so)"
        )
    )]
    NotIsolated { what: String },

    #[error("cannot run {what} isolated: {reason}")]
    #[diagnostic(code(faultline::stack::isolation))]
    Isolation { what: String, reason: String },

    #[error("cannot read the build context {}: {reason}", dir.display())]
    #[diagnostic(code(faultline::stack::context))]
    Context { dir: PathBuf, reason: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] crate::bounded::ReadError),

    #[error("the build context {} holds more than {}: the files up to {} crossed it", dir.display(), crate::bounded::human(*cap), at.display())]
    #[diagnostic(
        code(faultline::stack::context_too_large),
        help("list what the image does not need (build output, data) in the context's .dockerignore")
    )]
    ContextTooLarge { dir: PathBuf, at: PathBuf, cap: u64 },

    #[error("`{service}` exited while starting (exit code {})\n--- last log lines ---\n{logs}", code.map_or("unknown".into(), |c| c.to_string()))]
    #[diagnostic(code(faultline::stack::exited))]
    Exited { service: String, code: Option<i64>, logs: String },

    #[error("`{service}` was not ready within {timeout:?}: waited for {probe}\n--- last log lines ---\n{logs}")]
    #[diagnostic(
        code(faultline::stack::not_ready),
        help("raise `ready.timeout`, or check the readiness probe against the log")
    )]
    NotReady { service: String, probe: String, timeout: Duration, logs: String },

    #[error("cannot start `{service}`: {reason}")]
    #[diagnostic(code(faultline::stack::start))]
    Start { service: String, reason: String },

    #[error("docker: {action}: {reason}")]
    #[diagnostic(code(faultline::stack::docker))]
    Docker { action: String, reason: String },

    #[error("`{service}` is not a service of this stack (running: {running})")]
    #[diagnostic(code(faultline::stack::unknown_service))]
    UnknownService { service: String, running: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fault(#[from] FaultError),

    #[error("the file {target} of `{service}` cannot be rendered: {}", diagnostic.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    #[diagnostic(code(faultline::stack::rendered_file))]
    Rendered {
        service: String,
        target: String,
        #[related]
        diagnostic: Vec<crate::config::FileDiagnostic>,
    },

    #[error("the file {target} of `{service}` cannot be rendered: its template {template} is {reason}")]
    #[diagnostic(
        code(faultline::stack::template),
        help("commit the template; `template:` is a path relative to the repository root")
    )]
    Template { service: String, target: String, template: String, reason: String },

    #[error("`{from} -> {to}` has `client_port` {port}, but the run's network reports no gateway to listen on")]
    #[diagnostic(code(faultline::stack::no_gateway))]
    NoGateway { from: String, to: String, port: u16 },
}

/// How to run: one set of options for the stacks and for the scenarios on them, from the
/// command line (`gate`, `run`, `explore`, `up`).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seed of the edges' fault generators and of the scenarios' random draws.
    pub seed: u64,
    /// Where `build:` contexts are relative to (the repository's working tree, or a
    /// checkout of the revision under test).
    pub root: PathBuf,
    /// Readiness timeout of a service without its own `ready.timeout`.
    pub ready_timeout: Duration,
    /// Extra environment of `prepare` commands.
    pub prepare_env: Vec<(String, String)>,
    /// Whether `prepare` commands already ran for `root` (the caller ran them once for
    /// several stacks).
    pub prepared: bool,
    /// Where isolated builds of `root` keep their output.
    pub build_cache: sandbox::BuildCache,
    /// Start one service at a time instead of a level at once, and bring them back one at a
    /// time on a reset instead of all at once (for comparison).
    pub sequential_start: bool,
    /// Build the images no `prepare:` can write while the `prepare:` commands run (the
    /// default); off, every image is built after them (for comparison).
    pub images_during_build: bool,
    /// Leave a scenario's stack running after its checks (until the caller drops it).
    pub keep: bool,
    /// How to run a scenario again, without `--scenario` and `--seed` (they are added).
    pub repro_prefix: String,
    /// Remove stacks in the background, handing the tasks here, so the next scenario need
    /// not wait for it; the owner awaits them all before it ends. `None`: remove in line.
    pub teardowns: Option<Teardowns>,
}

/// Stack removals under way; each task yields the seconds it took.
pub(crate) type Teardowns = std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<f64>>>>;

impl RunOptions {
    /// Options of a single run: prepare runs with the stack, the stack is removed in line.
    pub fn new(seed: u64, root: impl Into<PathBuf>, ready_timeout: Duration, repro_prefix: String) -> RunOptions {
        RunOptions {
            seed,
            root: root.into(),
            ready_timeout,
            prepare_env: Vec::new(),
            prepared: false,
            build_cache: sandbox::BuildCache::default(),
            sequential_start: false,
            images_during_build: true,
            keep: false,
            repro_prefix,
            teardowns: None,
        }
    }

    /// Starts building, in the background, the images of `services` that the `prepare:`
    /// commands not in `done` cannot write ([`overlap::early_services`]); none when
    /// `images_during_build` is off.
    pub(crate) fn early_images(&self, config: &Config, services: &[String], done: &[String]) -> overlap::EarlyImages {
        if !self.images_during_build {
            return overlap::EarlyImages::none();
        }
        let early = overlap::early_services(config, services, &self.root, done);
        overlap::EarlyImages::start(config, &early, &self.root)
    }

    /// Options of the gate's runs: stacks removed in the background.
    pub(crate) fn for_gate(
        seed: u64,
        root: PathBuf,
        ready_timeout: Duration,
        prepare_env: Vec<(String, String)>,
        repro_prefix: String,
    ) -> RunOptions {
        RunOptions {
            prepare_env,
            teardowns: Some(Default::default()),
            ..RunOptions::new(seed, root, ready_timeout, repro_prefix)
        }
    }
}

/// One start of a stack: the run id in its labels and names, and whether to take the
/// checkpoint resets return to.
#[derive(Debug, Clone)]
pub struct Start {
    /// The run's id, in every label and name.
    pub run_id: String,
    /// Take the checkpoint resets return to while starting, level by level
    /// ([`Stack::reset`]); a stack whose checkpoint fails still starts, and is not reusable.
    pub checkpoint: bool,
}

impl Start {
    /// A start under a fresh run id, without a checkpoint.
    pub fn new() -> Start {
        Start { run_id: new_run_id(), checkpoint: false }
    }

    /// A start under a fresh run id, with a checkpoint when `checkpoint` is set.
    pub fn checkpointed(checkpoint: bool) -> Start {
        Start { checkpoint, ..Start::new() }
    }
}

impl Default for Start {
    fn default() -> Self {
        Start::new()
    }
}

/// Runs the distinct `prepare` commands of `services` in `root`, in order of first use,
/// leaving out those in `done` (which already ran there): isolated as the base's
/// configuration says ([`sandbox`]), building into `cache`.
pub(crate) async fn prepare(
    config: &Config,
    services: &[String],
    root: &Path,
    env: &[(String, String)],
    done: &[String],
    cache: &sandbox::BuildCache,
) -> Result<Vec<CommandLog>, StackError> {
    let mut logs = Vec::new();
    for (name, cmd) in prepare_commands(config, services).into_iter().filter(|(_, c)| !done.iter().any(|d| d == c)) {
        tracing::info!(service = %name, command = cmd, "prepare");
        let t = std::time::Instant::now();
        let what = format!("`prepare` of `{name}`");
        let failed = |output: String| StackError::Prepare { service: name.to_owned(), command: cmd.to_owned(), output };
        let code = sandbox::ChangeCode::new(config, &what, root, env, cache)?;
        let argv = vec!["sh".into(), "-c".into(), cmd.to_owned()];
        let ran = code.run(&what, argv, None, &[], code.writable(), code.build_net()).await?;
        let (ok, text, place) = (ran.success(), ran.text(), code.ran_in());
        if !ok {
            return Err(failed(image::tail(&text, 30)));
        }
        logs.push(CommandLog {
            service: name.to_owned(),
            command: cmd.to_owned(),
            seconds: t.elapsed().as_secs_f64(),
            output: image::tail(&text, 30),
            ran_in: place,
        });
    }
    Ok(logs)
}

/// The distinct `prepare` commands of `services`, in order of first use, each with the first
/// service that names it.
pub(crate) fn prepare_commands<'a>(config: &'a Config, services: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for name in services {
        let Some(cmd) = config.services.get(name).and_then(|s| s.prepare.as_deref()) else { continue };
        if !out.iter().any(|(_, c)| *c == cmd) {
            out.push((name, cmd));
        }
    }
    out
}

/// A fresh run id: time, process and a counter, short enough for container names.
pub(crate) fn new_run_id() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{:x}-{n}", t % 0xffff_ffff, std::process::id())
}

/// Where the time went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub images: Duration,
    pub start: Duration,
    /// Start-to-ready of each service.
    pub services: BTreeMap<String, Duration>,
    /// Images built (not found by tag).
    pub built: Vec<String>,
}

struct Running {
    container: ContainerAsync<GenericImage>,
    /// Container port → host port.
    ports: BTreeMap<u16, u16>,
    ingress: Proxy,
    /// What it was started from, to create it again on a reset.
    svc: Service,
    image: ImageRef,
    /// Bytes of (stdout, stderr) written before the last reset: not this scenario's logs.
    log_from: (usize, usize),
}

/// A running stack. [`Stack::shutdown`] removes it; dropping it lets the watchdog do so.
pub struct Stack {
    run: String,
    network: String,
    docker: Docker,
    services: BTreeMap<String, Running>,
    /// `(from, to)` → the edge's proxy.
    edges: BTreeMap<(String, String), Proxy>,
    /// For each service, the dependency port each edge into it targets.
    edge_ports: BTreeMap<(String, String), u16>,
    watchdog: Option<Watchdog>,
    /// The services by start level, dependencies first.
    levels: Vec<Vec<String>>,
    opts: RunOptions,
    /// What a reset returns the stack to ([`Stack::checkpoint`]).
    baseline: Option<reset::Baseline>,
    /// Taking the checkpoint while starting failed: the stack must not be reused.
    checkpoint_failed: bool,
    pub timings: Timings,
    /// What happens to the run's containers that faultline does not do.
    monitor: interference::Monitor,
    /// The host's address on the run's network, where edges with a `client_port` listen.
    run_gateway: Option<IpAddr>,
    /// Services faultline reached outside their edges' proxies (a published port, a command
    /// in the container) or acted on (a container fault) since the stack was last made ready.
    reached: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Each proxy's activity (connections opened, bytes) when the stack was last made ready
    /// (started, checkpointed or reset); `None` before.
    marks: Option<BTreeMap<String, (u64, u64)>>,
    /// How the last reset brought each `recreate` service back.
    last_reset: reset::ResetPaths,
}

/// What each service needs to start, resolved before anything runs.
struct Plan<'a> {
    name: &'a str,
    svc: &'a Service,
    image: ImageRef,
}

/// Resolves the images of `services` and builds the missing ones, each distinct image once,
/// all at once. Returns each service's image and the services whose image was built.
pub async fn prepare_images(
    docker: &Docker,
    config: &Config,
    services: &[String],
    root: &Path,
) -> Result<(BTreeMap<String, ImageRef>, Vec<String>), StackError> {
    prepare_images_after(docker, config, services, root, &[]).await
}

/// [`prepare_images`], once the images `early` were built (by [`overlap::EarlyImages`]):
/// their services count as built too.
pub(crate) async fn prepare_images_after(
    docker: &Docker,
    config: &Config,
    services: &[String],
    root: &Path,
    early: &[ImageRef],
) -> Result<(BTreeMap<String, ImageRef>, Vec<String>), StackError> {
    let (images, builds) = resolve_images(config, services, root)?;
    let mut built_images = build_all(docker, &builds).await?;
    built_images.extend_from_slice(early);
    let built = images.iter().filter(|(_, i)| built_images.contains(i)).map(|(s, _)| s.clone()).collect();
    Ok((images, built))
}

/// The distinct builds of images, each with the first service built from it.
pub(crate) type Builds = BTreeMap<ImageRef, (String, image::Build)>;

/// Each service's image, and the builds of those built from a context (read from `root`
/// now: the context's hash is the tag).
pub(crate) fn resolve_images(
    config: &Config,
    services: &[String],
    root: &Path,
) -> Result<(BTreeMap<String, ImageRef>, Builds), StackError> {
    let mut images = BTreeMap::new();
    let mut builds = Builds::new();
    for name in services {
        let svc = config.services.get(name).ok_or_else(|| StackError::UnknownService {
            service: name.clone(),
            running: config.services.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let image = match (&svc.build, &svc.image) {
            (Some(ctx), _) => {
                let build = image::Build::of(root, ctx, svc)?;
                let image = image::built_ref(ctx, &build)?;
                builds.entry(image.clone()).or_insert((name.clone(), build));
                image
            }
            (None, Some(reference)) => ImageRef::parse(reference),
            (None, None) => {
                return Err(StackError::Start { service: name.clone(), reason: "neither `build` nor `image`".into() });
            }
        };
        images.insert(name.clone(), image);
    }
    Ok((images, builds))
}

/// Builds the missing images of `builds`, all at once; the ones it built.
pub(crate) async fn build_all(docker: &Docker, builds: &Builds) -> Result<Vec<ImageRef>, StackError> {
    let jobs = builds.iter().map(|(image, (service, build))| async move {
        image::ensure_built(docker, service, build, image).await.map(|built| (image.clone(), built))
    });
    let mut built_images = Vec::new();
    for r in join_all(jobs).await {
        let (image, built) = r?;
        if built {
            built_images.push(image);
        }
    }
    Ok(built_images)
}

impl Stack {
    /// Starts `levels` (from the plan: dependencies first) of `config`'s services.
    pub async fn start(
        config: &Config,
        levels: &[Vec<String>],
        opts: &RunOptions,
        start: &Start,
    ) -> Result<Stack, StackError> {
        let docker = docker::local_client().await?;
        let swept = docker::sweep(&docker, docker::Scope::Dead).await?;
        if swept.containers + swept.networks > 0 {
            tracing::info!(runs = ?swept.runs, containers = swept.containers, networks = swept.networks, "swept leftovers of dead runs");
        }
        for left in &swept.left {
            tracing::warn!("leftover of a dead run: {left}");
        }
        let watchdog = Watchdog::spawn(&start.run_id);
        let network = format!("faultline-{}", start.run_id);
        docker::create_network(&docker, &network, &start.run_id).await?;
        let monitor = interference::Monitor::start(&docker, &start.run_id, &network);
        let run_gateway = if config.services.values().any(|s| s.depends_on.values().any(|e| e.client_port.is_some())) {
            docker::network_gateway(&docker, &network).await
        } else {
            None
        };
        let mut stack = Stack {
            run: start.run_id.clone(),
            network,
            docker,
            services: BTreeMap::new(),
            edges: BTreeMap::new(),
            edge_ports: BTreeMap::new(),
            watchdog,
            levels: levels.to_vec(),
            opts: opts.clone(),
            baseline: None,
            checkpoint_failed: false,
            timings: Timings::default(),
            monitor,
            run_gateway,
            reached: Default::default(),
            marks: None,
            last_reset: Default::default(),
        };
        // On any error from here on, the stack is dropped and the watchdog removes it all.
        let t = Instant::now();
        let all: Vec<String> = levels.iter().flatten().cloned().collect();
        let mut early = overlap::EarlyImages::none();
        if !opts.prepared {
            early = opts.early_images(config, &all, &[]);
            early.during(prepare(config, &all, &opts.root, &opts.prepare_env, &[], &opts.build_cache)).await??;
        }
        // A rendered file that cannot be rendered fails before the images of the build are.
        for name in &all {
            let svc = &config.services[name];
            let addresses = svc.depends_on.keys().map(|d| (d.as_str(), (String::new(), String::new()))).collect();
            for (target, file) in &svc.files {
                render_file(name, target, file, &opts.root, &addresses)?;
            }
        }
        let early = early.finish().await?;
        let (images, built) = prepare_images_after(&stack.docker, config, &all, &opts.root, &early).await?;
        stack.timings.images = t.elapsed();
        stack.timings.built = built;
        let gateway = docker::bridge_gateway(&stack.docker).await;

        let t = Instant::now();
        for level in levels {
            let plans: Vec<Plan<'_>> = level
                .iter()
                .map(|name| Plan { name, svc: &config.services[name], image: images[name].clone() })
                .collect();
            let mut started = Vec::new();
            if opts.sequential_start {
                for p in &plans {
                    started.push(stack.start_one(p, opts).await);
                }
            } else {
                started = join_all(plans.iter().map(|p| stack.start_one(p, opts))).await;
            }
            for r in started {
                let (name, running, took) = r?;
                stack.timings.services.insert(name.clone(), took);
                stack.monitor.track(running.container.id(), &name);
                stack.services.insert(name, running);
            }
            // Edges into this level, so the next level can point at them.
            for p in &plans {
                stack.wire_edges_into(config, p.name, gateway, opts.seed).await?;
            }
            if start.checkpoint
                && !stack.checkpoint_failed
                && let Err(e) = stack.checkpoint_level(level).await
            {
                tracing::warn!(error = %e, "no checkpoint: the stack will not be reused");
                stack.checkpoint_failed = true;
                stack.baseline = None;
            }
        }
        stack.timings.start = t.elapsed();
        stack.mark();
        Ok(stack)
    }

    async fn start_one(&self, p: &Plan<'_>, opts: &RunOptions) -> Result<(String, Running, Duration), StackError> {
        let t = Instant::now();
        let (container, ports) = self.create(p, opts).await?;
        let main = p.svc.ports.first().map(|c| SocketAddr::from((Ipv4Addr::LOCALHOST, ports[c])));
        let ingress = match main {
            Some(addr) => {
                let mut cfg = ProxyConfig::new(format!("host -> {}", p.name), addr, opts.seed);
                cfg.http = p.svc.ready.as_ref().is_some_and(|r| r.http.is_some());
                Proxy::start(cfg).await?
            }
            None => {
                Proxy::start(ProxyConfig::new(
                    format!("host -> {}", p.name),
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
                    opts.seed,
                ))
                .await?
            }
        };
        tracing::info!(service = p.name, took = ?t.elapsed(), "ready");
        let running =
            Running { container, ports, ingress, svc: p.svc.clone(), image: p.image.clone(), log_from: (0, 0) };
        Ok((p.name.to_owned(), running, t.elapsed()))
    }

    /// Creates and starts a service's container and waits until it is ready; returns it with
    /// its published ports.
    async fn create(
        &self,
        p: &Plan<'_>,
        opts: &RunOptions,
    ) -> Result<(ContainerAsync<GenericImage>, BTreeMap<u16, u16>), StackError> {
        let fail = |reason: String| StackError::Start { service: p.name.to_owned(), reason };
        let mut image = GenericImage::new(&p.image.name, &p.image.tag);
        for port in &p.svc.ports {
            image = image.with_exposed_port(port.tcp());
        }
        // faultline's init first, where a reset could restart the service in place.
        let program = if reset::could_restart(p.svc) { self.program_of(&p.image).await } else { None };
        if program.is_some() {
            image = image.with_entrypoint(init::PATH);
        }
        let mut req = image
            .with_network(&self.network)
            .with_container_name(format!("faultline-{}-{}", self.run, p.name))
            .with_labels(docker::labels(&self.run))
            .with_label(docker::SERVICE, p.name)
            .with_startup_timeout(opts.ready_timeout);
        for (k, v) in &p.svc.env {
            req = req.with_env_var(k, v);
        }
        let mut addresses: BTreeMap<&str, (String, String)> = BTreeMap::new();
        for (dep, edge) in &p.svc.depends_on {
            let proxy =
                self.edges.get(&(p.name.to_owned(), dep.clone())).ok_or_else(|| fail(format!("`{dep}` is not up")))?;
            // The dependency's own name resolves, inside the container, to the gateway where
            // its edge's proxy listens: nothing the service sees says it is under test.
            req = req.with_host(dep, Host::HostGateway);
            let host = edge.host.clone().unwrap_or_else(|| dep.clone());
            let port = match (edge.client_port, self.run_gateway) {
                // The name the client dials resolves to the run's network, where the proxy
                // also listens on the port the client was handed.
                (Some(port), Some(gw)) => {
                    req = req.with_host(&host, Host::Addr(gw));
                    port.to_string()
                }
                (Some(port), None) => {
                    return Err(StackError::NoGateway { from: p.name.to_owned(), to: dep.clone(), port });
                }
                (None, _) => {
                    if host != *dep {
                        req = req.with_host(&host, Host::HostGateway);
                    }
                    proxy.addr().port().to_string()
                }
            };
            for (name, template) in edge.variables() {
                req = req.with_env_var(name, template.replace("{host}", &host).replace("{port}", &port));
            }
            addresses.insert(dep, (host, port));
        }
        for (target, file) in &p.svc.files {
            let bytes = render_file(p.name, target, file, &opts.root, &addresses)?;
            req = req.with_copy_to(target.as_str(), bytes);
        }
        if let Some(program) = program {
            let target = testcontainers::CopyTargetOptions::new(init::PATH).with_mode(0o755);
            req = req.with_copy_to(target, init::binary().to_vec()).with_cmd(program);
        }
        let container = req.start().await.map_err(|e| fail(e.to_string()))?;
        let mut ports = BTreeMap::new();
        for port in &p.svc.ports {
            match container.get_host_port_ipv4(port.tcp()).await {
                Ok(host) => ports.insert(*port, host),
                // A container that exited at once has no ports: say that it exited.
                Err(e) => {
                    if let Ok(false) = container.is_running().await {
                        let code = container.exit_code().await.ok().flatten();
                        return Err(StackError::Exited {
                            service: p.name.to_owned(),
                            code,
                            logs: ready::logs(&container).await,
                        });
                    }
                    return Err(fail(e.to_string()));
                }
            };
        }
        let probe = self.probe_of(p.name, p.svc, &ports, &container).await?;
        ready::wait(p.name, &container, &probe, opts.ready_timeout).await?;
        Ok((container, ports))
    }

    /// What `image` runs (its entrypoint, then its command) behind faultline's init; `None`
    /// when there is no init, or the image names nothing to run or cannot be read (the
    /// container then runs as the image says, and a reset starts it again).
    async fn program_of(&self, image: &ImageRef) -> Option<Vec<String>> {
        let inspect = self.docker.inspect_image(&format!("{}:{}", image.name, image.tag)).await.ok()?;
        let config = inspect.config?;
        init::wrap(&config.entrypoint.unwrap_or_default(), &config.cmd.unwrap_or_default())
    }

    /// How a started service says it is ready, on its published `ports`.
    async fn probe_of(
        &self,
        name: &str,
        svc: &Service,
        ports: &BTreeMap<u16, u16>,
        container: &ContainerAsync<GenericImage>,
    ) -> Result<Probe, StackError> {
        let main = svc.ports.first().and_then(|c| ports.get(c)).map(|h| SocketAddr::from((Ipv4Addr::LOCALHOST, *h)));
        Ok(match (&svc.ready, main) {
            (Some(r), _) if r.log.is_some() => Probe::Log(r.log.clone().unwrap_or_default()),
            (Some(r), Some(addr)) if r.http.is_some() => Probe::Http(addr, r.http.clone().unwrap_or_default()),
            (Some(r), _) if r.tcp.is_some() => {
                let port = r.tcp.unwrap_or_default();
                let host = match ports.get(&port) {
                    Some(h) => *h,
                    None => container
                        .get_host_port_ipv4(port.tcp())
                        .await
                        .map_err(|e| StackError::Start { service: name.to_owned(), reason: e.to_string() })?,
                };
                Probe::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, host)))
            }
            _ => Probe::Started,
        })
    }

    async fn wire_edges_into(
        &mut self,
        config: &Config,
        target: &str,
        gateway: Option<IpAddr>,
        seed: u64,
    ) -> Result<(), StackError> {
        let t = &config.services[target];
        for (from, svc) in &config.services {
            let Some(edge) = svc.depends_on.get(target) else { continue };
            if self.edges.contains_key(&(from.clone(), target.to_owned())) {
                continue;
            }
            let port = edge.port.or(t.ports.first().copied()).unwrap_or_default();
            let host = self.services[target].ports.get(&port).copied().unwrap_or_default();
            let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
            ips.extend(gateway);
            let name = format!("{from} -> {target}");
            let mut cfg =
                ProxyConfig::new(&name, SocketAddr::from((Ipv4Addr::LOCALHOST, host)), edge_seed(seed, &name))
                    .listen_on(&ips);
            if let Some(port) = edge.client_port {
                let gw = self.run_gateway.ok_or_else(|| StackError::NoGateway {
                    from: from.clone(),
                    to: target.to_owned(),
                    port,
                })?;
                cfg.listen.push(SocketAddr::new(gw, port));
            }
            cfg.http = edge.is_http() || t.ready.as_ref().is_some_and(|r| r.http.is_some());
            let proxy = Proxy::start(cfg).await?;
            self.edge_ports.insert((from.clone(), target.to_owned()), port);
            self.edges.insert((from.clone(), target.to_owned()), proxy);
        }
        Ok(())
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Services in the stack.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    fn running(&self, service: &str) -> Result<&Running, StackError> {
        self.services.get(service).ok_or_else(|| StackError::UnknownService {
            service: service.to_owned(),
            running: self.services.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The host address of a service's main port, through its ingress proxy.
    pub fn addr(&self, service: &str) -> Result<SocketAddr, StackError> {
        Ok(self.running(service)?.ingress.addr())
    }

    /// The ingress proxy of a service (host → service).
    pub fn ingress(&self, service: &str) -> Result<&Proxy, StackError> {
        Ok(&self.running(service)?.ingress)
    }

    /// The published host port of a container port, bypassing every proxy.
    pub fn published(&self, service: &str, port: u16) -> Result<SocketAddr, StackError> {
        let r = self.running(service)?;
        self.reach(service);
        let host = r.ports.get(&port).copied().ok_or_else(|| StackError::Start {
            service: service.to_owned(),
            reason: format!("port {port} is not one of its ports"),
        })?;
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, host)))
    }

    /// The proxy of the edge `from -> to`.
    pub fn edge(&self, from: &str, to: &str) -> Option<&Proxy> {
        self.edges.get(&(from.to_owned(), to.to_owned()))
    }

    /// Every edge's proxy, by `(from, to)`.
    pub fn edges(&self) -> impl Iterator<Item = (&(String, String), &Proxy)> {
        self.edges.iter()
    }

    /// The container id of a service.
    pub(crate) fn container_id(&self, service: &str) -> Result<&str, StackError> {
        Ok(self.running(service)?.container.id())
    }

    /// Both log streams of a service, in full: what it wrote since it started, or since the
    /// last reset of a stack that is reused.
    pub(crate) async fn full_logs(&self, service: &str) -> Result<String, StackError> {
        let r = self.running(service)?;
        let (out, err) = log_bytes(&r.container).await;
        let mut s = String::from_utf8_lossy(out.get(r.log_from.0..).unwrap_or_default()).into_owned();
        s.push_str(&String::from_utf8_lossy(err.get(r.log_from.1..).unwrap_or_default()));
        Ok(s)
    }

    /// Runs a command in a service's container; returns the exit code and the output.
    pub async fn exec(&self, service: &str, cmd: &[&str]) -> Result<(i64, String), StackError> {
        let c = &self.running(service)?.container;
        self.reach(service);
        let fail = |e: testcontainers::TestcontainersError| StackError::Docker {
            action: format!("exec in {service}"),
            reason: e.to_string(),
        };
        let mut r = c.exec(testcontainers::core::ExecCommand::new(cmd.iter().copied())).await.map_err(fail)?;
        let mut out = String::from_utf8_lossy(&r.stdout_to_vec().await.map_err(fail)?).into_owned();
        out.push_str(&String::from_utf8_lossy(&r.stderr_to_vec().await.map_err(fail)?));
        let code = r.exit_code().await.map_err(fail)?.unwrap_or(-1);
        Ok((code, out))
    }

    fn docker_err(service: &str, what: &str) -> impl FnOnce(String) -> StackError {
        let action = format!("{what} {service}");
        move |reason| StackError::Docker { action, reason }
    }

    /// Carries out an operation a container fault asks for (see [`crate::fault::container`]).
    pub(crate) async fn container(
        &mut self,
        service: &str,
        op: ContainerOp,
        ready_timeout: Duration,
    ) -> Result<(), StackError> {
        let _ours = self.monitor.ours(Some(service));
        self.reach(service);
        match op {
            ContainerOp::Pause => self.pause(service).await,
            ContainerOp::Unpause => self.unpause(service).await,
            ContainerOp::Kill => self.kill(service).await,
            ContainerOp::Stop => self.stop(service).await,
            ContainerOp::Start => self.start_service(service, ready_timeout).await,
            ContainerOp::Disconnect => self.disconnect(service).await,
            ContainerOp::Reconnect => self.reconnect(service, ready_timeout).await,
        }
    }

    /// Freezes a service: its connections stay open and time out. The kernel's freezer
    /// gives up on a process it cannot stop at once (one waiting on its filesystem, under
    /// `fuse-overlayfs` most of all: the engine says "unable to freeze"), so a refusal of
    /// that kind is tried again, a few times, 100 ms apart.
    pub async fn pause(&self, service: &str) -> Result<(), StackError> {
        let container = &self.running(service)?.container;
        let mut tries = 0;
        loop {
            match container.pause().await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 4 && e.to_string().contains("unable to freeze") => {
                    tries += 1;
                    tracing::info!(service, error = %e, "pause refused, trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(Self::docker_err(service, "pause")(e.to_string())),
            }
        }
    }

    pub async fn unpause(&self, service: &str) -> Result<(), StackError> {
        self.running(service)?
            .container
            .unpause()
            .await
            .map_err(|e| Self::docker_err(service, "unpause")(e.to_string()))
    }

    /// Kills a service with SIGKILL. [`Stack::start_service`] brings it back.
    pub async fn kill(&self, service: &str) -> Result<(), StackError> {
        let id = self.container_id(service)?.to_owned();
        self.docker
            .kill_container(&id, None::<testcontainers::bollard::query_parameters::KillContainerOptions>)
            .await
            .map_err(|e| Self::docker_err(service, "kill")(e.to_string()))
    }

    /// Stops a service gracefully (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&self, service: &str) -> Result<(), StackError> {
        self.running(service)?.container.stop().await.map_err(|e| Self::docker_err(service, "stop")(e.to_string()))
    }

    /// Starts a stopped or killed service again, waits until its ports answer, and points
    /// every proxy at its new published ports. A service that exits on its own before its
    /// ports are published is [`StackError::Exited`], with its exit code and last log lines.
    pub async fn start_service(&mut self, service: &str, ready_timeout: Duration) -> Result<(), StackError> {
        let r = self.running(service)?;
        r.container.start().await.map_err(|e| Self::docker_err(service, "start")(e.to_string()))?;
        self.refresh_ports(service, ready_timeout).await
    }

    /// Whether a service's container has exited (by itself, when faultline did not stop it):
    /// its exit code and last log lines; `None` while it runs or when the engine cannot say.
    pub async fn exited(&self, service: &str) -> Option<(Option<i64>, String)> {
        let c = &self.running(service).ok()?.container;
        match c.is_running().await {
            Ok(false) => Some((c.exit_code().await.ok().flatten(), ready::logs(c).await)),
            _ => None,
        }
    }

    /// Cuts a service off its network (its published ports stop answering too).
    pub async fn disconnect(&self, service: &str) -> Result<(), StackError> {
        let id = self.container_id(service)?.to_owned();
        let req = testcontainers::bollard::models::NetworkDisconnectRequest { container: id, force: Some(true) };
        self.docker
            .disconnect_network(&self.network, req)
            .await
            .map_err(|e| Self::docker_err(service, "disconnect")(e.to_string()))
    }

    pub async fn reconnect(&mut self, service: &str, ready_timeout: Duration) -> Result<(), StackError> {
        let id = self.container_id(service)?.to_owned();
        let req = testcontainers::bollard::models::NetworkConnectRequest { container: id, ..Default::default() };
        self.docker
            .connect_network(&self.network, req)
            .await
            .map_err(|e| Self::docker_err(service, "reconnect")(e.to_string()))?;
        self.refresh_ports(service, ready_timeout).await
    }

    /// Re-reads a service's published ports (they change on restart) and re-points its
    /// ingress and every edge into it.
    async fn refresh_ports(&mut self, service: &str, ready_timeout: Duration) -> Result<(), StackError> {
        let r = self
            .services
            .get_mut(service)
            .ok_or_else(|| StackError::UnknownService { service: service.to_owned(), running: String::new() })?;
        let ports: Vec<u16> = r.ports.keys().copied().collect();
        r.ports = read_ports(service, &r.container, &ports, ready_timeout).await?;
        if let Some(main) = ports.first() {
            r.ingress.set_upstream(SocketAddr::from((Ipv4Addr::LOCALHOST, r.ports[main])));
        }
        let new_ports = r.ports.clone();
        for ((from, to), proxy) in &self.edges {
            if to == service {
                let port = self.edge_ports[&(from.clone(), to.clone())];
                proxy.set_upstream(SocketAddr::from((Ipv4Addr::LOCALHOST, new_ports[&port])));
            }
        }
        Ok(())
    }

    /// Notes that faultline reached `service` past its proxies: a reset does not keep it.
    fn reach(&self, service: &str) {
        self.reached.lock().unwrap_or_else(|e| e.into_inner()).insert(service.to_owned());
    }

    /// Each proxy's activity (connections opened, bytes both ways), by its name.
    fn activity(&self) -> BTreeMap<String, (u64, u64)> {
        let proxies = self.edges.values().chain(self.services.values().map(|r| &r.ingress));
        proxies
            .map(|p| {
                let o = p.observations();
                (p.name().to_owned(), (o.connections_opened, o.bytes_upstream + o.bytes_downstream))
            })
            .collect()
    }

    /// The stack is ready for a scenario: what reaches a service from here on is that
    /// scenario's doing.
    pub(crate) fn mark(&mut self) {
        self.marks = Some(self.activity());
        self.reached.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// What happened to the stack's containers that faultline did not do (a container
    /// removed, killed, stopped, paused or cut off from outside), each with what the engine
    /// reported; empty when nothing did. A container that is gone is found even when its
    /// event has not arrived yet.
    pub async fn interference(&self) -> Vec<String> {
        let foreign = self.monitor.foreign();
        let mut found: Vec<String> = foreign.iter().map(|(_, line)| line.clone()).collect();
        for (name, r) in &self.services {
            if foreign.iter().any(|(service, _)| service.as_deref() == Some(name.as_str())) {
                continue;
            }
            if let Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            }) = self.docker.inspect_container(r.container.id(), None).await
            {
                found.push(format!(
                    "{name} (container faultline-{}-{name}) is gone: the engine says {message}",
                    self.run
                ));
            }
        }
        found
    }

    /// Stops the proxies and removes every container and the network of the run.
    pub async fn shutdown(mut self) {
        self.monitor.stop();
        for (_, p) in std::mem::take(&mut self.edges) {
            p.shutdown().await;
        }
        let services = std::mem::take(&mut self.services);
        join_all(services.into_values().map(|r| async move {
            r.ingress.shutdown().await;
            let _ = r.container.rm().await;
        }))
        .await;
        let _ = self.docker.remove_network(&self.network).await;
        if let Some(w) = self.watchdog.take() {
            // It removes anything the calls above missed, then exits.
            let _ = tokio::task::spawn_blocking(move || w.finish()).await;
        }
    }
}

/// The bytes of a file rendered into `service`'s container at `target`: its `template`
/// (read bounded from the checkout `root`, never through a link out of it) or `content`,
/// each `{DEP.host}` and `{DEP.port}` filled from `addresses` (the edges' as the service
/// dials them). A placeholder that names no edge or key is an error located in the text.
fn render_file(
    service: &str,
    target: &str,
    file: &crate::config::RenderedFile,
    root: &Path,
    addresses: &BTreeMap<&str, (String, String)>,
) -> Result<Vec<u8>, StackError> {
    use crate::config::files;
    let (name, text) = match (&file.template, &file.content) {
        (Some(t), _) => {
            let template_err = |reason: String| StackError::Template {
                service: service.to_owned(),
                target: target.to_owned(),
                template: t.clone(),
                reason,
            };
            let bytes = crate::bounded::read(&root.join(t), Some(root), files::MAX_RENDERED_BYTES)?
                .ok_or_else(|| template_err("not in the checkout".into()))?;
            let text = String::from_utf8(bytes).map_err(|_| template_err("not UTF-8 text".into()))?;
            (t.clone(), text)
        }
        (None, Some(c)) => (format!("services.{service}.files.{target}.content"), c.clone()),
        (None, None) => (String::new(), String::new()),
    };
    let addresses: Vec<(&str, &str, &str)> = addresses.iter().map(|(d, (h, p))| (*d, h.as_str(), p.as_str())).collect();
    files::render_file(&name, &text, service, &addresses).map(String::into_bytes).map_err(|diagnostic| {
        StackError::Rendered { service: service.to_owned(), target: target.to_owned(), diagnostic }
    })
}

/// The host ports of a started container's `ports`: the engine publishes them a moment after
/// the start returns, so they are asked for until `timeout`. A container that exited on its
/// own meanwhile (at start-up, say, because a dependency is unreachable) has none:
/// [`StackError::Exited`].
async fn read_ports(
    service: &str,
    c: &ContainerAsync<GenericImage>,
    ports: &[u16],
    timeout: Duration,
) -> Result<BTreeMap<u16, u16>, StackError> {
    let deadline = Instant::now() + timeout;
    let mut out = BTreeMap::new();
    for port in ports {
        let host = loop {
            match c.get_host_port_ipv4(port.tcp()).await {
                Ok(h) => break h,
                Err(_) if matches!(c.is_running().await, Ok(false)) => {
                    return Err(StackError::Exited {
                        service: service.to_owned(),
                        code: c.exit_code().await.ok().flatten(),
                        logs: ready::logs(c).await,
                    });
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(Stack::docker_err(service, "read ports of")(e.to_string())),
            }
        };
        out.insert(*port, host);
    }
    Ok(out)
}

/// Everything a container wrote to (stdout, stderr) so far.
async fn log_bytes(c: &ContainerAsync<GenericImage>) -> (Vec<u8>, Vec<u8>) {
    (c.stdout_to_vec().await.unwrap_or_default(), c.stderr_to_vec().await.unwrap_or_default())
}

/// Each edge's generator has its own seed, derived from the run's seed and the edge's name.
fn edge_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{StackError, render_file};
    use crate::config::RenderedFile;

    /// A template is rendered with the edges' addresses as the service dials them; an
    /// unknown placeholder is an error located in the template, with the nearest edge; a
    /// template that leads out of the checkout is refused.
    #[test]
    fn templates_are_rendered_and_their_mistakes_located() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("cfg")).unwrap();
        std::fs::write(root.path().join("cfg/peers.json"), "{\"pay\": \"http://{payments.host}:{payments.port}\"}\n")
            .unwrap();
        let addresses = BTreeMap::from([("payments", ("payments.internal".to_owned(), "41000".to_owned()))]);
        let file = RenderedFile { template: Some("cfg/peers.json".into()), content: None };
        let out = render_file("orders", "/app/peers.json", &file, root.path(), &addresses).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"pay\": \"http://payments.internal:41000\"}\n");

        std::fs::write(root.path().join("cfg/peers.json"), "{\n  \"pay\": \"{paymnts.host}\"\n}\n").unwrap();
        let err = render_file("orders", "/app/peers.json", &file, root.path(), &addresses).unwrap_err();
        let StackError::Rendered { diagnostic, .. } = &err else { panic!("{err:?}") };
        assert_eq!((diagnostic[0].file.as_str(), diagnostic[0].line, diagnostic[0].column), ("cfg/peers.json", 2, 11));
        assert!(diagnostic[0].help.as_deref().unwrap_or("").contains("{payments.host}"), "{diagnostic:?}");

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("cfg/link")).unwrap();
        let file = RenderedFile { template: Some("cfg/link".into()), content: None };
        let err = render_file("orders", "/app/peers.json", &file, root.path(), &addresses).unwrap_err();
        assert!(matches!(err, StackError::Read(crate::bounded::ReadError::Outside { .. })), "{err:?}");
    }
}
