//! A cold prepare of the example shop (what `faultline explore --service orders` does before
//! its first stack on a fresh machine): the isolated cargo release build of payments and
//! orders (`prepare: ./build.sh`, in the builder image), then the images, measured side by
//! side in one run:
//!
//! - after: every image built once the build has ended (`images_during_build` off),
//! - during: the images no `prepare:` can write (postgres, redis) built while it runs.
//!
//! Cold means: no layer of the shop's images (postgres, redis, the builder, payments, orders)
//! in the engine's cache, and an empty build cache of the bench's own for each run. Removing
//! faultline's tags of the shop's images is not enough (the suite's images built from the
//! same Dockerfiles share their layers), so each run's copy labels its Dockerfiles with a
//! nonce right after `FROM` (`faultline.bench`), and its images, all of them its own, are
//! removed after it. The base image (debian:bookworm-slim) and the host's crate registry stay.
//!
//!     flock /tmp/docker.lock cargo bench --bench prepare     (needs the Docker Engine and network for apt-get)
//!     FAULTLINE_BENCH_ROUNDS=2 …      (after, during, during, after)

use std::path::Path;
use std::time::Instant;

use faultline::config::{self, ConfigOrigin, SourceFile};
use faultline::stack::RunOptions;

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    let rounds: usize = std::env::var("FAULTLINE_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    let cache = tempfile::tempdir().unwrap();
    // SAFETY: set before the runtime starts any thread.
    unsafe { std::env::set_var("FAULTLINE_CACHE_DIR", cache.path()) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut order = Vec::new();
    for i in 0..rounds {
        order.extend(if i % 2 == 0 { [false, true] } else { [true, false] });
    }
    let mut rows = Vec::new();
    for during in order {
        rows.push((during, rt.block_on(cold_prepare(during))));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cold prepare of the shop (orders' stack: build of payments and orders, 5 images), {cores} cores");
    println!("  {:<8} {:>8} {:>10} {:>10} {:>12}   built", "images", "total s", "build s", "after s", "cores busy");
    for (during, r) in &rows {
        println!(
            "  {:<8} {:>8.1} {:>10.1} {:>10.1} {:>12.2}   {}",
            if *during { "during" } else { "after" },
            r.total,
            r.build,
            r.images,
            r.cpu / r.total,
            r.built.join(" ")
        );
    }
    let mean = |d: bool| {
        let v: Vec<f64> = rows.iter().filter(|(x, _)| *x == d).map(|(_, r)| r.total).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (after, during) = (mean(false), mean(true));
    println!(
        "prepare: {during:.1} s with the images built during the build, {after:.1} s after it ({:.0} s, {:.0} % less)",
        after - during,
        100.0 * (after - during) / after
    );
}

struct Row {
    total: f64,
    /// The build (and, during it, the early images).
    build: f64,
    /// The images after the build.
    images: f64,
    /// Core-seconds the whole machine was busy (every process, not only the bench's).
    cpu: f64,
    built: Vec<String>,
}

/// Core-seconds the machine has been busy since boot, from /proc/stat (all but idle and
/// iowait).
fn busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    (v.iter().sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0)) / 100.0
}

/// A fresh copy of the shop, its images removed, prepared once.
async fn cold_prepare(during: bool) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let nonce = format!("{}-{}", std::process::id(), dir.path().display());
    let root = shop(dir.path(), &nonce);
    let loaded = config::parse(
        SourceFile::new("faultline.yaml", std::fs::read_to_string(root.join("faultline.yaml")).unwrap()),
        ConfigOrigin::Worktree { path: root.display().to_string() },
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    // orders' stack: orders, payments, postgres, redis.
    let text = std::fs::read_to_string(root.join("scenarios/redis-down.yaml")).unwrap();
    let scenario = faultline::scenario::parse("scenarios/redis-down.yaml", text, &loaded.config)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut opts = RunOptions::new(1, &root, std::time::Duration::from_secs(60), String::new());
    opts.images_during_build = during;
    let (t, cpu) = (Instant::now(), busy());
    let p = faultline::runner::prepare_once(&[&scenario], &loaded.config, &mut opts).await.expect("the shop prepares");
    let total = t.elapsed().as_secs_f64();
    let cpu = busy() - cpu;
    eprintln!("{}: {total:.1} s", if during { "during" } else { "after" });
    remove_images(&nonce);
    Row { total, build: p.build_seconds, images: p.images_seconds, cpu, built: p.images_built }
}

/// The shop with the database and cache images and the builder image in `images/`, every
/// Dockerfile labelled with `nonce` after its `FROM`, so no layer comes from the cache.
fn shop(dir: &Path, nonce: &str) -> std::path::PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let root = dir.join("shop");
    copy_dir(&fixtures.join("shop"), &root);
    for image in ["postgres", "redis", "builder"] {
        copy_dir(&fixtures.join("images").join(image), &root.join("images").join(image));
    }
    for ctx in ["images/postgres", "images/redis", "images/builder", "services/payments", "services/orders"] {
        let path = root.join(ctx).join("Dockerfile");
        let text = std::fs::read_to_string(&path).unwrap();
        let (from, rest) = text.split_at(text.find("FROM ").unwrap());
        let (first, after) = rest.split_once('\n').unwrap();
        std::fs::write(&path, format!("{from}{first}\nLABEL faultline.bench=\"{nonce}\"\n{after}")).unwrap();
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "target" && e.file_name() != "bin" {
                copy_dir(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Removes the images of one run (their `faultline.bench` label is its nonce).
fn remove_images(nonce: &str) {
    let out = std::process::Command::new("docker")
        .args(["images", "-q", "--filter", &format!("label=faultline.bench={nonce}")])
        .output()
        .expect("docker images");
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return;
    }
    let rm = std::process::Command::new("docker").arg("rmi").arg("-f").args(&ids).output().expect("docker rmi");
    if !rm.status.success() {
        eprintln!("cannot remove the run's images: {}", String::from_utf8_lossy(&rm.stderr).trim());
    }
}
