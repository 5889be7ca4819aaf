//! Start-up of a stack of 6 services in 3 dependency levels from prebuilt local images:
//! the whole stack (a level at a time, its services at once), each container on its own,
//! and the same stack one service at a time; plus the no-op image check, and a reset of the
//! stack after every service was reached (each is restarted in place: the 3 levels come back
//! at once, the edges into each held until it is ready).
//!
//! Target: the whole stack within 1.5× the critical path (3 levels × the slowest single
//! container); the no-op check under 1 s and building nothing.
//!
//!     cargo bench --bench stack     (needs the Docker Engine and ci/bootstrap)

use std::path::Path;
use std::time::{Duration, Instant};

use faultline::config::{self, ConfigOrigin, SourceFile};
use faultline::stack::{RunOptions, Stack, Start, docker, prepare_images};

const CONFIG: &str = r#"
version: 1
services:
  a: { build: fixtures/images/relay, ports: [8080], ready: { http: /health } }
  b: { build: fixtures/images/relay, ports: [8080], ready: { http: /health } }
  c: { build: fixtures/images/relay, ports: [8080], ready: { http: /health }, depends_on: { a: { env: A_URL, url: "http://{host}:{port}" } } }
  d: { build: fixtures/images/relay, ports: [8080], ready: { http: /health }, depends_on: { b: { env: B_URL, url: "http://{host}:{port}" } } }
  e:
    build: fixtures/images/relay
    ports: [8080]
    ready: { http: /health }
    depends_on:
      c: { env: C_URL, url: "http://{host}:{port}" }
      d: { env: D_URL, url: "http://{host}:{port}" }
  f: { build: fixtures/images/relay, ports: [8080], ready: { http: /health }, depends_on: { d: { env: D_URL, url: "http://{host}:{port}" } } }
"#;

const RUNS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = config::parse(SourceFile::new("bench.yaml", CONFIG), ConfigOrigin::Worktree { path: "bench".into() })
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config;
    let levels: Vec<Vec<String>> =
        [&["a", "b"][..], &["c", "d"], &["e", "f"]].iter().map(|l| l.iter().map(|s| s.to_string()).collect()).collect();
    let all: Vec<String> = levels.iter().flatten().cloned().collect();

    rt.block_on(async {
        let d = docker::client().await.expect("the Docker Engine answers");
        // Build once, outside the measurements.
        prepare_images(&d, &cfg, &all, root).await.expect("images build");

        let t = Instant::now();
        let (_, built) = prepare_images(&d, &cfg, &all, root).await.unwrap();
        let noop = t.elapsed();

        let (mut whole, mut seq, mut single) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            whole.push(start(&cfg, &levels, root, false).await);
            seq.push(start(&cfg, &levels, root, true).await);
            // Each container on its own (a leaf, so nothing else starts with it).
            let mut slowest = Duration::ZERO;
            for s in ["a", "b"] {
                slowest = slowest.max(start(&cfg, &[vec![s.to_string()]], root, false).await);
            }
            single.push(slowest);
        }
        let (resets, resets_seq) = (resets(&cfg, &levels, root, false).await, resets(&cfg, &levels, root, true).await);
        let (w, s, one) = (median(whole), median(seq), median(single));
        let critical = one * levels.len() as u32;
        println!("stack of 6 services in 3 levels, prebuilt images, median of {RUNS}");
        println!("  whole stack, a level at a time   {:>7.2} s", w.as_secs_f64());
        println!("  slowest container on its own     {:>7.2} s", one.as_secs_f64());
        println!("  critical path (3 levels × that)  {:>7.2} s", critical.as_secs_f64());
        println!(
            "  ratio whole / critical path      {:>7.2}   (target ≤ 1.50)",
            w.as_secs_f64() / critical.as_secs_f64()
        );
        println!(
            "  one service at a time            {:>7.2} s   ({:.2}× the whole stack)",
            s.as_secs_f64(),
            s.as_secs_f64() / w.as_secs_f64()
        );
        let (r, rs) = (median(resets), median(resets_seq));
        println!(
            "  reset, every service reached     {:>7.2} s   ({:.2}× the whole stack's start, {:.2}× the slowest container's)",
            r.as_secs_f64(),
            r.as_secs_f64() / w.as_secs_f64(),
            r.as_secs_f64() / one.as_secs_f64()
        );
        println!(
            "  the same, one service at a time  {:>7.2} s   ({:.2}× the reset all at once)",
            rs.as_secs_f64(),
            rs.as_secs_f64() / r.as_secs_f64()
        );
        println!(
            "  no-op image check                {:>7.3} s, {} image(s) rebuilt   (target < 1 s, none)",
            noop.as_secs_f64(),
            built.len()
        );
    });
}

/// Starts and removes a stack; returns the time until every service was ready.
async fn start(cfg: &config::Config, levels: &[Vec<String>], root: &Path, sequential: bool) -> Duration {
    let mut opts = RunOptions::new(1, root, Duration::from_secs(60), String::new());
    opts.sequential_start = sequential;
    let t = Instant::now();
    let stack = Stack::start(cfg, levels, &opts, &Start::new()).await.expect("stack starts");
    let took = t.elapsed();
    stack.shutdown().await;
    took
}

/// Starts a checkpointed stack and resets it `RUNS` times, each time after a request reached
/// every service (a service nothing reached is kept, not restarted); returns each reset's time.
/// `sequential`: the services come back one at a time.
async fn resets(cfg: &config::Config, levels: &[Vec<String>], root: &Path, sequential: bool) -> Vec<Duration> {
    let mut opts = RunOptions::new(1, root, Duration::from_secs(60), String::new());
    opts.sequential_start = sequential;
    let mut stack = Stack::start(cfg, levels, &opts, &Start::checkpointed(true)).await.expect("stack starts");
    let mut took = Vec::new();
    for _ in 0..RUNS {
        for name in levels.iter().flatten() {
            let addr = stack.addr(name).expect("its ingress");
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("reach it");
            tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /health HTTP/1.0\r\n\r\n").await.expect("send");
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink).await.expect("answer");
        }
        let t = Instant::now();
        stack.reset().await.expect("the stack resets");
        took.push(t.elapsed());
        assert_eq!(
            stack.last_reset().restarted.len() + stack.last_reset().recreated.len(),
            6,
            "every service came back"
        );
    }
    stack.shutdown().await;
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
