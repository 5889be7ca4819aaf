//! Code of the change in a container of its own: `prepare:` commands, the builds and runs of
//! `nextest` steps, host `exec` steps.
//!
//! That code is written by the change under test. On the runner it could rewrite the
//! faultline binary a workflow caches, talk to the Docker socket and retag the image the gate
//! is about to test, read the runner's credentials, or write the report. In here it gets:
//! - no Docker socket and none of the runner's environment (only the toolchain's variables
//!   this module sets and what the operator names: `policy.prepare_env`, `--prepare-env`);
//! - the checkout copy mounted read-only at its own path, but for the paths the base's
//!   configuration lists in `isolation.writable`, and a cache directory of the gate's
//!   (seen at the same path in every run, so a copy of a warm cache stays warm);
//! - no network for `prepare:` unless the base's configuration allows it (`nextest` and
//!   `exec` steps share the runner's network, where the stack's addresses are);
//! - a memory cap, the runner's user and group ids (so what it writes stays removable), and a
//!   lifetime bound by the caller's: when the caller gives up (`--timeout`, Ctrl-C), the
//!   container is removed, and a watchdog removes it if faultline itself is killed.
//!
//! With `isolation.rust`, the host's Rust toolchain is mounted read-only. The crates the
//! change's `Cargo.lock` names are fetched first, by faultline, with `cargo fetch --locked`
//! run from a directory of its own (cargo reads `.cargo/config.toml` from the working
//! directory up, so none of the change's applies, and fetching runs no code of the crates);
//! the build then runs offline against the host's registry, mounted read-only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testcontainers::core::{AccessMode, Mount, WaitFor, wait::ExitWaitStrategy};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use super::image::{self, ImageRef};
use super::{StackError, docker, host};
use crate::config::{Config, Isolation};

/// Where code of the change runs, by the base's `isolation:`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place<'a> {
    /// In a container ([`run`]).
    Container(&'a Isolation),
    /// On the runner, because the base's configuration says so, for this reason.
    Runner(&'a str),
}

/// Where `config` runs code of the change; an error when it does not say.
pub(crate) fn place<'a>(config: &'a Config, what: &str) -> Result<Place<'a>, StackError> {
    match &config.isolation {
        Some(Isolation { on_runner: Some(why), .. }) => Ok(Place::Runner(why)),
        Some(iso) => Ok(Place::Container(iso)),
        None => Err(StackError::NotIsolated { what: what.to_owned() }),
    }
}

/// Code of the change to run for one checkout, where the base's configuration says.
#[derive(Debug, Clone)]
pub(crate) struct ChangeCode<'a> {
    pub place: Place<'a>,
    /// Variables of the runner the operator passes (`policy.prepare_env`).
    pub pass: &'a [String],
    /// Variables the operator sets (`--prepare-env`).
    pub set: &'a [(String, String)],
    /// The checkout.
    pub root: &'a Path,
    /// Where builds of it keep their output.
    pub cache: PathBuf,
}

impl<'a> ChangeCode<'a> {
    /// How `config` runs code of the change in `root`; an error naming `what` when the
    /// configuration does not say where.
    pub(crate) fn new(
        config: &'a Config,
        what: &str,
        root: &'a Path,
        set: &'a [(String, String)],
        cache: &BuildCache,
    ) -> Result<ChangeCode<'a>, StackError> {
        Ok(ChangeCode {
            place: place(config, what)?,
            pass: &config.policy.prepare_env,
            set,
            root,
            cache: cache.dir(root),
        })
    }

    /// The paths of the checkout `prepare:` may write: `isolation.writable`.
    pub(crate) fn writable(&self) -> Vec<PathBuf> {
        match self.place {
            Place::Container(iso) => writable(iso, self.root),
            Place::Runner(_) => Vec::new(),
        }
    }

    /// Whether `prepare:` may reach the network.
    pub(crate) fn build_net(&self) -> Net {
        match self.place {
            Place::Container(iso) if iso.network => Net::Bridge,
            _ => Net::Off,
        }
    }

    /// Where it runs, in words, for the report.
    pub(crate) fn ran_in(&self) -> String {
        match self.place {
            Place::Container(_) => "a container".into(),
            Place::Runner(why) => format!("the runner (isolation.on_runner: {why})"),
        }
    }

    /// Runs `argv` in `workdir` (the checkout's root when `None`) with `env` on top of what
    /// the operator passes and sets; `writable` are the paths outside the cache it may write.
    pub(crate) async fn run(
        &self,
        what: &str,
        argv: Vec<String>,
        workdir: Option<&Path>,
        env: &[(String, String)],
        writable: Vec<PathBuf>,
        net: Net,
    ) -> Result<Ran, StackError> {
        let mut set = self.set.to_vec();
        for (k, v) in env {
            set.retain(|(o, _)| o != k);
            set.push((k.clone(), v.clone()));
        }
        let workdir = workdir.unwrap_or(self.root).to_path_buf();
        match self.place {
            Place::Container(iso) => {
                let job = Job {
                    what: what.to_owned(),
                    argv,
                    root: self.root.to_path_buf(),
                    workdir,
                    writable,
                    cache: self.cache.clone(),
                    env: host::named(self.pass, &set),
                    net,
                };
                run(iso, &job).await
            }
            Place::Runner(_) => {
                let fail = |reason: String| StackError::Isolation { what: what.to_owned(), reason };
                let (program, args) = argv.split_first().ok_or_else(|| fail("nothing to run".into()))?;
                let mut c = host::command(program, self.pass, &set);
                c.args(args).current_dir(&workdir);
                let out = host::output(c).await.map_err(|e| fail(format!("cannot run {program}: {e}")))?;
                Ok(Ran { code: out.status.code().map(i64::from), stdout: out.stdout, stderr: out.stderr })
            }
        }
    }
}

/// The network of a job's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    /// None at all.
    Off,
    /// The engine's default bridge: what the runner's network reaches.
    Bridge,
    /// The runner's own network namespace: the stack's loopback addresses.
    Runner,
}

/// One process of the change's code to run in a container.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// What it is, for errors (`prepare of orders`).
    pub what: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The checkout copy: mounted read-only at its own path.
    pub root: PathBuf,
    /// Where the process starts (inside `root` or `cache`).
    pub workdir: PathBuf,
    /// Absolute paths inside `root` the process may write.
    pub writable: Vec<PathBuf>,
    /// The gate's cache directory for this checkout, writable, seen at [`CACHE_MOUNT`]:
    /// `target/` of cargo, the process's `HOME`.
    pub cache: PathBuf,
    /// Variables the operator named, on top of the toolchain's.
    pub env: Vec<(String, String)>,
    pub net: Net,
}

/// How a job ended.
#[derive(Debug)]
pub(crate) struct Ran {
    /// The exit code; `None` when the engine did not say.
    pub code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout then stderr, as text.
    pub(crate) fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&self.stderr));
        text
    }
}

/// The host's Rust toolchain, as the container sees it (at the same paths).
#[derive(Debug, Clone)]
struct Toolchain {
    rustup_home: PathBuf,
    cargo_bin: PathBuf,
    registry: PathBuf,
    /// `cargo-nextest` when it is installed outside `cargo_bin`.
    nextest: Option<PathBuf>,
}

fn toolchain(what: &str) -> Result<Toolchain, StackError> {
    let missing = |reason: String| StackError::Isolation { what: what.to_owned(), reason };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let from = |var: &str, default: &str| {
        std::env::var_os(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let rustup_home =
        from("RUSTUP_HOME", ".rustup").ok_or_else(|| missing("neither RUSTUP_HOME nor HOME is set".into()))?;
    let cargo_home =
        from("CARGO_HOME", ".cargo").ok_or_else(|| missing("neither CARGO_HOME nor HOME is set".into()))?;
    let cargo_bin = cargo_home.join("bin");
    if !cargo_bin.join("cargo").is_file() {
        return Err(missing(format!(
            "no cargo in {} (isolation.rust mounts the host's rustup toolchain)",
            cargo_bin.display()
        )));
    }
    if !rustup_home.join("toolchains").is_dir() {
        return Err(missing(format!("no rustup toolchains in {}", rustup_home.display())));
    }
    let nextest = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("cargo-nextest"))
            .find(|p| p.is_file() && !p.starts_with(&cargo_bin))
    });
    Ok(Toolchain { rustup_home, registry: cargo_home.join("registry"), cargo_bin, nextest })
}

/// The crates `root`'s `Cargo.lock` names, into the host's registry (see the module's
/// documentation). Nothing to do without a `Cargo.toml`.
async fn fetch_crates(job: &Job) -> Result<(), StackError> {
    let manifest = job.root.join("Cargo.toml");
    if !manifest.is_file() {
        return Ok(());
    }
    let fail = |reason: String| StackError::Isolation { what: job.what.clone(), reason };
    let neutral = tempfile::tempdir().map_err(|e| fail(format!("cannot make a directory to fetch from: {e}")))?;
    let mut c = host::command(
        std::env::var("CARGO").as_deref().unwrap_or("cargo"),
        &[],
        &[("CARGO_TERM_COLOR".into(), "never".into())],
    );
    c.args(["fetch", "--locked", "--quiet", "--manifest-path"]).arg(&manifest).current_dir(neutral.path());
    let out = host::output(c).await.map_err(|e| fail(format!("cannot run cargo fetch: {e}")))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        return Err(fail(format!(
            "cargo fetch --locked failed (the build runs offline, so every crate of Cargo.lock must be fetched first):\n{}",
            image::tail(&text, 15)
        )));
    }
    Ok(())
}

/// The image jobs of `iso` run in, built from the checkout `root` when `iso.image` names a
/// context.
async fn job_image(
    docker: &testcontainers::bollard::Docker,
    iso: &Isolation,
    root: &Path,
) -> Result<ImageRef, StackError> {
    match &iso.image {
        None => Ok(ImageRef::parse("debian:bookworm-slim")),
        Some(ctx) => {
            let build = image::Build { dir: root.join(ctx), dockerfile: None, args: Default::default() };
            let image = image::built_ref(ctx, &build)?;
            image::ensure_built(docker, "isolation", &build, &image).await?;
            Ok(image)
        }
    }
}

/// Where a job sees its cache directory, in every run: Cargo's fingerprints hold the paths
/// of what a build read (the registry's sources under `CARGO_HOME`) and build scripts'
/// `OUT_DIR`, so a copy of the seed mounted at a path of its own would have every dependency
/// compiled again.
const CACHE_MOUNT: &str = "/faultline-cache";

/// Runs `job` in a container under `iso` and waits for it to end. Dropping the future
/// removes the container.
pub(crate) async fn run(iso: &Isolation, job: &Job) -> Result<Ran, StackError> {
    let fail = |reason: String| StackError::Isolation { what: job.what.clone(), reason };
    let docker = docker::local_client().await?;
    let image = job_image(&docker, iso, &job.root).await?;
    let memory = iso.memory_bytes().ok_or_else(|| fail("`isolation.memory` is not a size".into()))?;
    // The checkout's own paths must be directories all the way down; faultline's (a step's
    // scratch directory) are its own.
    for dir in job.writable.iter().filter(|d| d.starts_with(&job.root)) {
        inside(&job.what, &job.root, dir)?;
    }
    for dir in job.writable.iter().chain([&job.cache, &job.cache.join("home")]) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    // A path of the runner as the job sees it: the cache at one path in every run (see
    // [`CACHE_MOUNT`]), anything else where it is.
    let inner = |p: &Path| match p.strip_prefix(&job.cache) {
        Ok(rel) => Path::new(CACHE_MOUNT).join(rel),
        Err(_) => p.to_path_buf(),
    };
    let mut path = Vec::new();
    let mut env: Vec<(String, String)> =
        vec![("HOME".into(), format!("{CACHE_MOUNT}/home")), ("TMPDIR".into(), "/tmp".into())];
    let mut mounts = vec![
        Mount::bind_mount(job.root.display().to_string(), job.root.display().to_string())
            .with_access_mode(AccessMode::ReadOnly),
    ];
    for w in &job.writable {
        mounts.push(Mount::bind_mount(w.display().to_string(), inner(w).display().to_string()));
    }
    mounts.push(Mount::bind_mount(job.cache.display().to_string(), CACHE_MOUNT));
    if iso.rust {
        let tc = toolchain(&job.what)?;
        fetch_crates(job).await?;
        let cargo_home = job.cache.join("cargo-home");
        std::fs::create_dir_all(cargo_home.join("registry"))
            .map_err(|e| fail(format!("cannot create {}: {e}", cargo_home.display())))?;
        let cargo_home = Path::new(CACHE_MOUNT).join("cargo-home");
        for (p, ro) in [(&tc.rustup_home, true), (&tc.cargo_bin, true)] {
            let m = Mount::bind_mount(p.display().to_string(), p.display().to_string());
            mounts.push(if ro { m.with_access_mode(AccessMode::ReadOnly) } else { m });
        }
        if tc.registry.is_dir() {
            mounts.push(
                Mount::bind_mount(tc.registry.display().to_string(), cargo_home.join("registry").display().to_string())
                    .with_access_mode(AccessMode::ReadOnly),
            );
        }
        path.push(tc.cargo_bin.display().to_string());
        if let Some(n) = &tc.nextest {
            mounts.push(
                Mount::bind_mount(n.display().to_string(), "/usr/local/bin/cargo-nextest")
                    .with_access_mode(AccessMode::ReadOnly),
            );
        }
        env.extend([
            ("RUSTUP_HOME".into(), tc.rustup_home.display().to_string()),
            ("CARGO_HOME".into(), cargo_home.display().to_string()),
            ("CARGO_TARGET_DIR".into(), format!("{CACHE_MOUNT}/target")),
            ("CARGO_NET_OFFLINE".into(), "true".into()),
        ]);
        if let Ok(t) = std::env::var("RUSTUP_TOOLCHAIN") {
            env.push(("RUSTUP_TOOLCHAIN".into(), t));
        }
    }
    path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    env.push(("PATH".into(), path.join(":")));
    for (k, v) in &job.env {
        env.retain(|(o, _)| o != k);
        env.push((k.clone(), v.clone()));
    }

    let run_id = super::new_run_id();
    let _watchdog = super::watchdog::Watchdog::spawn(&run_id);
    let (entry, args) = job.argv.split_first().ok_or_else(|| fail("nothing to run".into()))?;
    let mut req = GenericImage::new(&image.name, &image.tag)
        .with_entrypoint(entry)
        .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_poll_interval(Duration::from_millis(100))))
        .with_cmd(args.iter().cloned())
        .with_network(match job.net {
            Net::Off => "none",
            Net::Bridge => "bridge",
            Net::Runner => "host",
        })
        .with_container_name(format!("faultline-{run_id}-job"))
        .with_labels(docker::labels(&run_id))
        .with_working_dir(inner(&job.workdir).display().to_string())
        .with_user(user())
        // A build takes what it takes: the caller's deadline bounds it, not a start timeout.
        .with_startup_timeout(Duration::from_secs(7 * 24 * 3600))
        .with_host_config_modifier(move |hc| {
            hc.memory = Some(memory);
            hc.memory_swap = Some(memory);
        });
    for m in mounts {
        req = req.with_mount(m);
    }
    for (k, v) in env {
        req = req.with_env_var(k, v);
    }
    tracing::debug!(what = %job.what, image = %image, "isolated job");
    let container = req.start().await.map_err(|e| fail(format!("the container did not run: {e}")))?;
    let code = container.exit_code().await.map_err(|e| fail(format!("no exit code from the engine: {e}")))?;
    let stdout = container.stdout_to_vec().await.unwrap_or_default();
    let stderr = container.stderr_to_vec().await.unwrap_or_default();
    Ok(Ran { code, stdout, stderr })
}

/// `dir` is under `root` through directories only: no part of it that exists is a link (a
/// change that commits `out` as a link to the runner's `~/.cargo/bin` would otherwise have
/// it mounted writable), and none is `..`.
fn inside(what: &str, root: &Path, dir: &Path) -> Result<(), StackError> {
    let fail = |reason: String| StackError::Isolation { what: what.to_owned(), reason };
    let rel = dir.strip_prefix(root).map_err(|_| fail(format!("{} is not inside the checkout", dir.display())))?;
    let mut at = root.to_path_buf();
    for part in rel.components() {
        let std::path::Component::Normal(name) = part else {
            return Err(fail(format!("{} leaves the checkout", dir.display())));
        };
        at.push(name);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(fail(format!(
                    "{} is a link in the checkout; a writable path of isolation.writable must be a directory",
                    at.display()
                )));
            }
            Ok(m) if !m.is_dir() => return Err(fail(format!("{} is not a directory", at.display()))),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// The runner's user and group ids, so what the job writes can be removed by the runner.
fn user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

/// The absolute paths of `iso.writable` inside `root`.
pub(crate) fn writable(iso: &Isolation, root: &Path) -> Vec<PathBuf> {
    iso.writable.iter().map(|w| root.join(w)).collect()
}

/// Where isolated builds of a checkout keep what they build (cargo's `target/`, the job's
/// `HOME`). A gate's builds each get a copy of the seed of their base tree ([`Seed`]), thrown
/// away with the run, so no build of a change can leave anything another build reads. Without
/// one (a run in a working tree), a directory of the gate's per working tree.
#[derive(Debug, Clone, Default)]
pub struct BuildCache(Option<std::sync::Arc<tempfile::TempDir>>);

impl BuildCache {
    /// The directory for builds of `root`.
    pub(crate) fn dir(&self, root: &Path) -> PathBuf {
        match &self.0 {
            Some(t) => t.path().to_path_buf(),
            None => {
                let key = hex(root.display().to_string().as_bytes());
                cache_root().join(format!("tree-{}", &key[..16]))
            }
        }
    }

    /// A fresh directory of the run's, holding a copy of `seed` when there is one.
    pub(crate) fn copy_of(seed: Option<&Path>) -> std::io::Result<BuildCache> {
        let root = cache_root();
        std::fs::create_dir_all(&root)?;
        // Named by its owner (`run-<owner>-…`), so a killed run's copy is swept (`sweep_cache`).
        let owner = docker::owner().replace('/', "_");
        let dir = tempfile::Builder::new().prefix(&format!("run-{owner}-")).tempdir_in(&root)?;
        if let Some(seed) = seed {
            copy_tree(seed, dir.path())?;
        }
        Ok(BuildCache(Some(std::sync::Arc::new(dir))))
    }
}

/// `cp -a from/. to/`: every file, link and mode as it is (cargo's fingerprints compare
/// modification times).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .stdin(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("cp -a {} {} failed ({status})", from.display(), to.display())))
    }
}

/// What every build of a base tree starts from: the output of one build of that tree by
/// faultline, written once and never again (a build writes only its own copy).
#[derive(Debug, Clone)]
pub(crate) struct Seed {
    pub dir: PathBuf,
}

impl Seed {
    /// The seed of the tree `tree` (a git tree id) under the host's toolchain.
    pub(crate) fn of_tree(tree: &str) -> Seed {
        // The layout of a job's cache is part of what a seed holds (its paths are in Cargo's
        // fingerprints): a seed of another layout would be copied and then rebuilt each time.
        let mut key = format!("{tree} cache at {CACHE_MOUNT}");
        if let Ok(tc) = toolchain("the build cache") {
            key.push_str(&std::fs::read_to_string(tc.rustup_home.join("settings.toml")).unwrap_or_default());
            if let Ok(entries) = std::fs::read_dir(tc.rustup_home.join("toolchains")) {
                let mut names: Vec<String> =
                    entries.flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
                names.sort();
                key.push_str(&names.join(","));
            }
        }
        let key = hex(key.as_bytes());
        Seed { dir: cache_root().join(format!("seed-{}", &key[..24])) }
    }

    pub(crate) fn exists(&self) -> bool {
        self.dir.join(".complete").is_file()
    }

    /// Waits until no other run is building this seed, and holds it until the guard drops,
    /// so concurrent gates of one base build it once.
    pub(crate) async fn lock(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(cache_root())?;
        let file = std::fs::File::create(self.dir.with_extension("lock"))?;
        tokio::task::spawn_blocking(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: flock(2) on a descriptor this function owns; released when it closes.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 { Ok(file) } else { Err(std::io::Error::last_os_error()) }
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Makes `built` (a finished build's directory) the seed, unless another run did first.
    pub(crate) fn publish(&self, built: &Path) {
        let _ = std::fs::write(built.join(".complete"), b"");
        if std::fs::rename(built, &self.dir).is_err() {
            tracing::debug!(seed = %self.dir.display(), "seed already published");
        }
    }
}

/// Removes the build-cache copies of runs whose process is gone (killed before it could
/// remove them), and seeds left half-built; returns how many. `all` removes every seed too.
pub fn sweep_cache(all: bool) -> std::io::Result<usize> {
    let root = cache_root();
    let Ok(entries) = std::fs::read_dir(&root) else { return Ok(0) };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = match name.strip_prefix("run-") {
            Some(rest) => {
                // `host_pid_start-random`: the owner is everything before the last `-`.
                let owner = rest.rsplit_once('-').map_or(rest, |(o, _)| o);
                let parts: Vec<&str> = owner.rsplitn(3, '_').collect();
                match parts.as_slice() {
                    [start, pid, host] => docker::owner_dead(&format!("{host}/{pid}/{start}")),
                    _ => false,
                }
            }
            None => all && name.starts_with("seed-"),
        };
        let half_built = name.starts_with("seed-") && !name.ends_with(".lock") && !e.path().join(".complete").exists();
        if stale || half_built {
            let path = e.path();
            let r = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            match r {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!(path = %path.display(), error = %err, "cannot remove a build cache"),
            }
        }
    }
    Ok(removed)
}

/// The gate's cache directory for builds: `$FAULTLINE_CACHE_DIR`, or
/// `$XDG_CACHE_HOME/faultline`, or `~/.cache/faultline`, under `build/`.
pub(crate) fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("FAULTLINE_CACHE_DIR") {
        return PathBuf::from(d).join("build");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("faultline").join("build")
}

/// The SHA-256 of `bytes`, in hex.
fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_path_through_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let outside = dir.path().join("runner-bin");
        std::fs::create_dir_all(root.join("services")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("services/bin")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        let err = |p: &Path| inside("prepare", &root, p).unwrap_err().to_string();
        assert!(err(&root.join("services/bin")).contains("is a link"));
        assert!(err(&root.join("services/bin/deeper")).contains("is a link"));
        assert!(err(&root.join("file/x")).contains("not a directory"));
        assert!(err(&root.join("services/../x")).contains("leaves"));
        assert!(err(&outside).contains("not inside"));
        assert!(inside("prepare", &root, &root.join("services/new/dir")).is_ok());
    }

    #[test]
    fn memory_sizes() {
        use crate::config::model::parse_size;
        assert_eq!(parse_size("4g"), Some(4 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1k"), None, "below Docker's floor");
        assert_eq!(parse_size("99999999999999g"), None);
        assert_eq!(parse_size("lots"), None);
    }
}
