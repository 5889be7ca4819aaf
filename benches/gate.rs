//! Time to verdict on the example shop, measured side by side in one run:
//!
//! - the gate on a docs-only change (nothing to start),
//! - the gate on a change to `payments` only (its scenarios and those of what depends on
//!   it, on stacks shared by scenarios of the same services and reset between them), with
//!   --jobs 1, 2 and 4, with --fresh-stacks (a stack started and removed per scenario), and
//!   with --stacks-ahead 0 (no stack made ready while other scenarios run),
//! - a naive run: every scenario, a fresh stack each, services started one at a time.
//!
//! Images and the shop's binaries are built once beforehand (and reported), so the numbers
//! are the gate's own. Targets: docs-only under 2 s; a one-service change at least 3× faster
//! than the naive run.
//!
//!     cargo bench --bench gate      (needs the Docker Engine and ci/bootstrap)

use std::path::Path;
use std::time::{Duration, Instant};

use faultline::change::ChangeSpec;
use faultline::gate::{GateRequest, gate};
use faultline::outcome::GateReport;
use faultline::plan::{ConfigFrom, PlanRequest};
use faultline::repo::Repo;
use faultline::runner::{prepare_once, run};
use faultline::stack::RunOptions;

fn git(repo: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@shop.example"])
        .args(args)
        .current_dir(repo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

fn request(head: &str, jobs: usize) -> GateRequest {
    request_with(head, jobs, false)
}

fn request_with(head: &str, jobs: usize, fresh_stacks: bool) -> GateRequest {
    GateRequest { fresh_stacks, ..request_ahead(head, jobs, None) }
}

fn request_ahead(head: &str, jobs: usize, stacks_ahead: Option<usize>) -> GateRequest {
    GateRequest {
        plan: PlanRequest {
            change: ChangeSpec::Revisions { base: "main".into(), head: head.into() },
            config_from: ConfigFrom::Base,
            labels: Vec::new(),
            author: None,
            event: None,
            protected_base: true,
            codeowners_host: None,
        },
        approved_by: vec!["alice@shop.example".into()],
        accept_difference: Vec::new(),
        code_host: None,
        seed: 3,
        timeout: None,
        ready_timeout: Duration::from_secs(60),
        jobs,
        // The shop builds isolated, into a cache of faultline's (`isolation:` in its config).
        prepare_env: Vec::new(),
        partition: None,
        only: None,
        fresh_stacks: false,
        stacks_ahead,
        explore_budget: Duration::from_secs(300),
        base_results: None,
        record_base_results: false,
    }
}

/// The correct shop, approved by a senior: the gate must allow, having judged it.
fn allowed(r: &GateReport) {
    assert_eq!(r.decision, faultline::outcome::Decision::Allow, "expected allow: {}", r.reasons.join("; "));
}

fn breakdown(r: &GateReport) -> String {
    let t = &r.timings;
    format!(
        "plan {:.2} s, build {:.1} s, images {:.2} s, {} scenarios {:.1} s (summed: stacks up or reset {:.1} s, faults/steps/checks {:.1} s, teardown {:.1} s; stacks started {}, reused {}, discarded {}), {:?}",
        t.plan_seconds,
        t.build_seconds,
        t.images_seconds,
        r.scenarios.len(),
        t.scenarios_seconds,
        t.stacks_seconds,
        t.runs_seconds,
        t.teardown_seconds,
        t.stacks.started,
        t.stacks.reused,
        t.stacks.discarded,
        r.decision
    )
}

/// A commit on a new branch off main that changes only payments (a comment), so each gate
/// of one has a payments binary to build, as a new change would.
fn payments_change(root: &Path, n: usize) -> String {
    let branch = format!("payments-only-{n}");
    git(root, &["checkout", "-q", "-b", &branch, "main"]);
    let p = root.join("services/payments/src/main.rs");
    let src = std::fs::read_to_string(&p).unwrap();
    // Unique to this run, so no earlier run's build of it is cached.
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let doc = format!("/// Database calls give up after this ({n}, {stamp}).\nconst DB_TIMEOUT");
    std::fs::write(&p, src.replacen("const DB_TIMEOUT", &doc, 1)).unwrap();
    git(root, &["commit", "-q", "-am", "Document the database timeout"]);
    git(root, &["checkout", "-q", "main"]);
    branch
}

fn main() {
    // `RUST_LOG=faultline=info cargo bench --bench gate` shows where the time goes.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = faultline::demo::prepare(dir.path()).expect("shop");
    let quiet = faultline::runner::event::Quiet;

    rt.block_on(async {
        // Warm up: images and the shop's binaries for main, so every measured run builds
        // only what its change touches.
        let t = Instant::now();
        let warm_branch = payments_change(&root, 0);
        let warm = gate(&root, &request(&warm_branch, 2), &quiet).await;
        println!("warm-up (builds images and the shop): {:.1} s, verdict {:?}", t.elapsed().as_secs_f64(), warm.decision);
        allowed(&warm);

        let t = Instant::now();
        let docs = gate(&root, &request("docs-typo", 1), &quiet).await;
        let docs_t = t.elapsed();
        allowed(&docs);

        let mut gates = Vec::new();
        for (n, jobs) in [(1, 1), (2, 2), (3, 4)] {
            let branch = payments_change(&root, n);
            let (t, cpu) = (Instant::now(), Cpu::now());
            let r = gate(&root, &request(&branch, jobs), &quiet).await;
            let took = t.elapsed();
            let cpu = Cpu::now().since(cpu);
            allowed(&r);
            assert!(r.scenarios.len() >= 6, "the payments change runs the shop's scenarios: {}", breakdown(&r));
            gates.push((jobs, took, r, cpu));
        }
        // The same gate with no stack made ready ahead of the scenarios (as before
        // --stacks-ahead): each stack starts or resets when its scenario's turn comes.
        let branch = payments_change(&root, 6);
        let (t, cpu) = (Instant::now(), Cpu::now());
        let behind = gate(&root, &request_ahead(&branch, 2, Some(0)), &quiet).await;
        let behind_t = t.elapsed();
        let behind_cpu = Cpu::now().since(cpu);
        allowed(&behind);
        // The same gate with a fresh stack per scenario (the gate before stacks were shared).
        let branch = payments_change(&root, 5);
        let (t, cpu) = (Instant::now(), Cpu::now());
        let fresh = gate(&root, &request_with(&branch, 2, true), &quiet).await;
        let fresh_t = t.elapsed();
        let fresh_cpu = Cpu::now().since(cpu);
        allowed(&fresh);

        // Naive: every scenario, a fresh stack each, one service at a time, one scenario at
        // a time, after the same build.
        let branch = payments_change(&root, 4);
        let (t, cpu) = (Instant::now(), Cpu::now());
        let repo = Repo::discover(&root).unwrap();
        // The same scenarios the gate runs, from the same executable plan.
        let spec = ChangeSpec::Revisions { base: "main".into(), head: branch.clone() };
        let req = PlanRequest {
            change: spec,
            config_from: ConfigFrom::Base,
            labels: Vec::new(),
            author: None,
            event: None,
            protected_base: false,
            codeowners_host: None,
        };
        let exec = faultline::plan::planned(&repo, &req).unwrap().executable(&repo).unwrap();
        let (loaded, all) = (&exec.config, &exec.scenarios);
        let mut opts = RunOptions::new(3, exec.code.root(), Duration::from_secs(60), String::new());
        opts.sequential_start = true;
        let refs: Vec<_> = all.iter().collect();
        let prepared = prepare_once(&refs, &loaded.config, &mut opts).await.unwrap();
        let built_t = t.elapsed();
        let (mut stacks, mut runs, mut teardown, mut failed) = (0.0, 0.0, 0.0, 0);
        let mut longest = (0.0, String::new());
        for s in all {
            let o = run(s, &loaded.config, &opts).await.0;
            if o.run_seconds > longest.0 {
                longest = (o.run_seconds, o.name.clone());
            }
            stacks += o.stack_seconds;
            runs += o.run_seconds;
            teardown += o.teardown_seconds;
            failed += usize::from(o.status != faultline::outcome::Status::Passed);
        }
        let naive_t = t.elapsed();
        let naive_cpu = Cpu::now().since(cpu);
        // A fast wrong answer is not a fast gate: every verdict is checked before a number
        // is printed.
        assert_eq!(failed, 0, "the naive run must pass every scenario on the correct shop");

        let overhead = overhead(&loaded.config, exec.code.root()).await;

        println!("time to verdict on the shop (images and main's binaries prebuilt; each change builds its own)");
        println!("  docs-only change                  {:>6.2} s   (target < 2 s)   {}", docs_t.as_secs_f64(), breakdown(&docs));
        for (jobs, t, r, cpu) in &gates {
            println!("  payments-only change, --jobs {jobs}    {:>6.2} s   {}", t.as_secs_f64(), breakdown(r));
            println!("      {cpu}");
        }
        println!(
            "  naive: all {} scenarios one by one, services started one at a time {:>6.2} s   (build {:.1} s, images {:.2} s; summed: stacks up {stacks:.1} s, faults/steps/checks {runs:.1} s, teardown {teardown:.1} s; {failed} not passed)",
            all.len(),
            naive_t.as_secs_f64(),
            built_t.as_secs_f64() - prepared.images_seconds,
            prepared.images_seconds,
        );
        println!("      {naive_cpu}");
        println!("  payments-only change, --jobs 2, --fresh-stacks {:>6.2} s   {}", fresh_t.as_secs_f64(), breakdown(&fresh));
        println!("      {fresh_cpu}");
        println!("  payments-only change, --jobs 2, --stacks-ahead 0 {:>6.2} s   {}", behind_t.as_secs_f64(), breakdown(&behind));
        println!("      {behind_cpu}");
        let ratios: Vec<String> = gates
            .iter()
            .map(|(jobs, t, _, _)| format!("{:.2}× with --jobs {jobs}", naive_t.as_secs_f64() / t.as_secs_f64()))
            .collect();
        println!("  naive / payments-only gate: {}   (target ≥ 3×)", ratios.join(", "));
        println!("  fresh stacks / shared stacks at --jobs 2: {:.2}×", fresh_t.as_secs_f64() / gates[1].1.as_secs_f64());
        println!(
            "  no stack ahead / stacks ahead (default) at --jobs 2: {:.2}×",
            behind_t.as_secs_f64() / gates[1].1.as_secs_f64()
        );
        println!("{overhead}");
        // faultline's own part: what each took once the change was built (the build is the
        // change's, the same on both sides).
        let after_build = naive_t.as_secs_f64() - built_t.as_secs_f64();
        println!(
            "  after the build: naive {after_build:.1} s vs gate {:.1} s at --jobs 2 = {:.2}×",
            gates[1].2.timings.scenarios_seconds,
            after_build / gates[1].2.timings.scenarios_seconds.max(1e-3)
        );
        // No gate answers before the change is built and its longest scenario has run, on
        // however many stacks at whatever cost.
        let floor = built_t.as_secs_f64() + longest.0;
        println!(
            "  floor: build {:.1} s + longest scenario ({}) {:.1} s = {floor:.1} s: no gate is more than {:.2}× faster than naive here",
            built_t.as_secs_f64(),
            longest.1,
            longest.0,
            naive_t.as_secs_f64() / floor
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "  cpu floor: the gate at --jobs 2 spent {:.1} core-s on {cores} cores: no faster than {:.1} s (naive / that = {:.2}×) without spending less",
            gates[1].3.busy,
            gates[1].3.busy / cores as f64,
            naive_t.as_secs_f64() / (gates[1].3.busy / cores as f64)
        );
        println!("one-service gate: {:.2}× faster than naive", naive_t.as_secs_f64() / gates[1].1.as_secs_f64());
    });
}

/// Per scenario, with nothing else running: a stack of the shop's orders scenarios
/// (postgres, redis, payments, orders) started and removed, against the same stack reset,
/// each the median of 3, in wall and CPU time.
async fn overhead(config: &faultline::config::Config, root: &Path) -> String {
    use faultline::stack::{RunOptions, Stack, Start};
    let graph = faultline::config::ServiceGraph::new(config);
    let mut marked = vec![false; graph.len()];
    for s in ["orders", "payments", "postgres", "redis"] {
        marked[graph.index(s).expect("a shop service")] = true;
    }
    let levels = graph.start_levels(&marked);
    let opts = |checkpoint| {
        let mut o = RunOptions::new(3, root, Duration::from_secs(60), String::new());
        o.prepared = true;
        (o, Start::checkpointed(checkpoint))
    };
    let (mut fresh, mut fresh_cpu, mut reset, mut reset_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut kept, mut kept_cpu) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for (checkpoint, wall, cpus) in [(false, &mut fresh, &mut fresh_cpu), (true, &mut kept, &mut kept_cpu)] {
            let (t, cpu) = (Instant::now(), Cpu::now());
            let (o, start) = opts(checkpoint);
            let stack = Stack::start(config, &levels, &o, &start).await.expect("the shop's stack starts");
            stack.shutdown().await;
            wall.push(t.elapsed().as_secs_f64());
            cpus.push(Cpu::now().since(cpu).busy);
        }
    }
    let (o, start) = opts(true);
    let mut stack = Stack::start(config, &levels, &o, &start).await.expect("the shop's stack starts");
    for _ in 0..3 {
        let (t, cpu) = (Instant::now(), Cpu::now());
        stack.reset().await.expect("a clean stack resets");
        reset.push(t.elapsed().as_secs_f64());
        reset_cpu.push(Cpu::now().since(cpu).busy);
    }
    stack.shutdown().await;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, fc, r, rc) = (median(fresh), median(fresh_cpu), median(reset), median(reset_cpu));
    let (k, kc) = (median(kept), median(kept_cpu));
    format!(
        "  per-scenario stack overhead, nothing else running (orders' stack of 4 services, median of 3): start + remove {f:.2} s, {fc:.1} core-s; reset {r:.2} s, {rc:.1} core-s: {:.2}× less wall time, {:.2}× less CPU\n  a stack that will be reset pays its checkpoint once: start with checkpoint + remove {k:.2} s, {kc:.1} core-s",
        f / r.max(1e-3),
        fc / rc.max(1e-3)
    )
}

/// CPU time spent while a measured run ran, by who spent it (Linux; zeros elsewhere): the
/// gate runs on as many cores as the machine has, so on 2 cores its floor is its CPU time / 2.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Every process on the machine (`/proc/stat`, busy time).
    busy: f64,
    /// The containers (their cgroup, removed ones included).
    containers: f64,
    /// dockerd and containerd.
    daemons: f64,
    /// This process: faultline itself.
    faultline: f64,
    /// Builds (cargo, rustc and what they run) and other processes that ended: children
    /// this process waited for.
    children: f64,
}

impl Cpu {
    fn now() -> Cpu {
        let tick = 100.0; // USER_HZ on Linux
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let busy = read("/proc/stat")
            .lines()
            .next()
            .map(|l| {
                let v: Vec<f64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
                (v.iter().sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0)) / tick
            })
            .unwrap_or(0.0);
        let containers = read("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage").trim().parse::<f64>().unwrap_or(0.0) / 1e9;
        // utime + stime (fields 14, 15), and cutime + cstime (16, 17) of waited-for children.
        let times = |stat: &str| -> (f64, f64) {
            // After the command's name: field 3 (state) is the first.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let g = |n: usize| f.get(n - 3).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0) / tick;
            (g(14) + g(15), g(16) + g(17))
        };
        let mut daemons = 0.0;
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let comm = read(&format!("{}/comm", e.path().display()));
            if matches!(comm.trim(), "dockerd" | "containerd") {
                daemons += times(&read(&format!("{}/stat", e.path().display()))).0;
            }
        }
        let (faultline, children) = times(&read("/proc/self/stat"));
        Cpu { busy, containers, daemons, faultline, children }
    }

    /// What was spent from `before` to `self`.
    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            busy: self.busy - before.busy,
            containers: self.containers - before.containers,
            daemons: self.daemons - before.daemons,
            faultline: self.faultline - before.faultline,
            children: self.children - before.children,
        }
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Cpu { busy, containers, daemons, faultline, children } = *self;
        write!(
            f,
            "cpu {busy:.1} core-s: containers {containers:.1}, dockerd+containerd {daemons:.1}, faultline {faultline:.1}, builds {children:.1}, other {:.1}",
            busy - containers - daemons - faultline - children
        )
    }
}
