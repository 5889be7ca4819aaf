//! Exploring orders of the example shop, and the newsletter (a Python app with a form
//! login, a session in Redis, PostgreSQL and an email API), each with the whole catalogue,
//! measured side by side in one run:
//!
//! - as the gate explores: `--jobs 2`, stacks shared and reset between experiments, every
//!   experiment on the change and on its base (here the same build: the cost is what counts),
//! - one by one on fresh stacks: one experiment at a time, a stack started and removed for
//!   each side of each. This baseline runs a sample (the first experiments of the catalogue,
//!   within `BASELINE_SAMPLE`) and extrapolates to the whole catalogue, and says so.
//!
//! - as a change's gate explores once the protected branch recorded the base's results
//!   (`--base-results`): the base is not run where the change is no worse than the record.
//!
//! Per phase (summed over experiments, both sides): the reference (wall), stacks started,
//! resets, the experiments' faults and steps, the oracles (checks, invariants), and CPU per
//! experiment. The last line of each system is
//! `explore SERVICE: N experiments in S s, R× faster than one by one on fresh stacks`.
//!
//!     cargo bench --bench explore      (needs the Docker Engine and ci/bootstrap)
//!     FAULTLINE_BENCH_EXPLORE=newsletter cargo bench --bench explore      (one of them)

use std::sync::Mutex;
use std::time::{Duration, Instant};

use faultline::change::ChangeSpec;
use faultline::outcome::{ExploreReport, ScenarioOutcome};
use faultline::plan::{ConfigFrom, Executable};
use faultline::repo::Repo;
use faultline::runner::base_results::BaseResults;
use faultline::runner::event::Event;
use faultline::runner::fault_search::{ExploreOptions, explore};
use faultline::stack::RunOptions;

/// How long the one-by-one baseline runs experiments before it extrapolates.
const BASELINE_SAMPLE: Duration = Duration::from_secs(45);

/// When the reference started and when the experiments were planned (the reference's end).
#[derive(Default)]
struct Clock {
    reference: Mutex<Option<(Instant, Option<Instant>)>>,
}

impl Clock {
    fn report(&self, e: &Event<'_>) {
        let mut r = self.reference.lock().unwrap();
        match e {
            Event::ReferenceStarted { .. } => *r = Some((Instant::now(), None)),
            Event::ExperimentsPlanned { .. } => {
                if let Some((_, end @ None)) = r.as_mut() {
                    *end = Some(Instant::now());
                }
            }
            _ => {}
        }
    }

    fn reference_seconds(&self) -> f64 {
        match *self.reference.lock().unwrap() {
            Some((a, Some(b))) => (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Summed over every run of every experiment, both sides.
#[derive(Default, Debug)]
struct Phases {
    runs: usize,
    started: usize,
    start_seconds: f64,
    reused: usize,
    reset_seconds: f64,
    /// Application services the resets restarted in place, and removed and created again.
    restarted: usize,
    recreated: usize,
    experiment_seconds: f64,
    oracle_seconds: f64,
    teardown_seconds: f64,
}

impl Phases {
    fn of(r: &ExploreReport) -> Phases {
        let mut p = Phases::default();
        let mut add = |o: &ScenarioOutcome| {
            p.runs += 1;
            if o.stack.reused {
                p.reused += 1;
                p.reset_seconds += o.stack_seconds;
                p.restarted += o.stack.restarted;
                p.recreated += o.stack.recreated;
            } else {
                p.started += 1;
                p.start_seconds += o.stack_seconds;
            }
            let steps = o.checks_ms / 1e3;
            p.experiment_seconds += steps;
            p.oracle_seconds += (o.run_seconds - steps).max(0.0);
            p.teardown_seconds += o.teardown_seconds;
        };
        for x in &r.ran {
            add(&x.outcome);
            if let Some(c) = &x.compared {
                add(&c.base);
            }
        }
        p
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} runs: stacks started {} in {:.1} s, resets {} in {:.1} s (services restarted in place {}, recreated {}), experiments (faults + steps) {:.1} s, oracles (checks, invariants) {:.1} s, teardown in line {:.1} s",
            self.runs,
            self.started,
            self.start_seconds,
            self.reused,
            self.reset_seconds,
            self.restarted,
            self.recreated,
            self.experiment_seconds,
            self.oracle_seconds,
            self.teardown_seconds
        )
    }
}

/// The systems the bench explores, and how to select them: `FAULTLINE_BENCH_EXPLORE=newsletter`
/// (a comma-separated list of `shop`, `newsletter`; default both).
const SYSTEMS: &[&str] = &["shop", "newsletter"];

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    let chosen = std::env::var("FAULTLINE_BENCH_EXPLORE").unwrap_or_else(|_| SYSTEMS.join(","));
    let chosen: Vec<&str> = chosen.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = chosen.iter().find(|s| !SYSTEMS.contains(s)) {
        panic!("FAULTLINE_BENCH_EXPLORE: `{bad}` is not one of {SYSTEMS:?}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The shop: orders, whose stack is Rust services behind PostgreSQL and Redis.
    if chosen.contains(&"shop") {
        let root = faultline::demo::prepare(dir.path()).expect("shop");
        measure(&rt, &root, "orders", "the shop's binaries and images", true);
    }
    // The newsletter: a Python app with a form login, its session in Redis behind a cookie,
    // PostgreSQL and an outbound email API; a stack unlike the shop's.
    if chosen.contains(&"newsletter") {
        let root = newsletter(&dir.path().join("newsletter"));
        measure(&rt, &root, "newsletter", "the newsletter's images", false);
    }
}

/// The newsletter fixture and the database and cache images, committed in a fresh repository.
fn newsletter(root: &std::path::Path) -> std::path::PathBuf {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    copy_dir(&fixtures.join("newsletter"), root);
    for image in ["postgres", "redis"] {
        copy_dir(&fixtures.join("images").join(image), &root.join("images").join(image));
    }
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "newsletter"]);
    root.to_owned()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "__pycache__" {
                copy_dir(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Explores `service` of the repository at `root` three ways (see the module's docs) and
/// prints the lines, the last `explore SERVICE: N experiments in S s, …`. With `must_pass`, a
/// failed experiment that is not a known weakness stops the bench.
fn measure(rt: &tokio::runtime::Runtime, root: &std::path::Path, service: &str, built: &str, must_pass: bool) {
    let repo = Repo::discover(root).unwrap();
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree).unwrap();
    let exec = Executable::of_worktree(&repo, loaded, Vec::new(), &[service.to_owned()]);
    let target = &exec.explore[0];
    let reference = &target.ready.as_ref().expect("the workload is valid").1.scenario;

    rt.block_on(async {
        let mut opts = RunOptions::new(3, root, Duration::from_secs(60), String::new());
        // The shop builds isolated, into a cache of faultline's (`isolation:` in its config).
        opts.teardowns = Some(Default::default());
        let t = Instant::now();
        let prepared = faultline::runner::prepare_once(&[reference], &exec.config.config, &mut opts).await.unwrap();
        println!(
            "prepare ({built}): {:.1} s (build {:.1} s, images {:.1} s)",
            t.elapsed().as_secs_f64(),
            prepared.build_seconds,
            prepared.images_seconds
        );
        // The base: the same build, so the cost is the gate's and the verdicts agree.
        let base = opts.clone();
        let xo = ExploreOptions {
            budget: Duration::from_secs(900),
            jobs: 2,
            first: vec![service.into()],
            stop_at_first_failure: false,
            base: Some(base.clone()),
            fresh_stacks: false,
            partition: None,
            accepted: Vec::new(),
            base_results: None,
        };
        // The shared run records its outcomes as the base's (`--record-base-results`): the
        // base here is the same tree, so the third run below reads them back.
        let store = tempfile::tempdir().expect("a temporary directory");
        let tree = || Some("bench".to_owned());
        let text = &exec.config.source.text;
        let record = BaseResults::new(store.path(), None, tree(), text);
        let xo = ExploreOptions { base_results: Some(record), ..xo };

        let clock = Clock::default();
        let listen = |e: &Event<'_>| clock.report(e);
        let (t, cpu) = (Instant::now(), Cpu::now());
        let shared = explore(&exec.config, target, &opts, &xo, &listen).await;
        let shared_t = t.elapsed().as_secs_f64();
        let shared_cpu = Cpu::now().since(cpu);
        let shared_ref = clock.reference_seconds();
        assert!(shared.error.is_none(), "exploration could not judge: {:?}", shared.error);
        // A fast wrong answer is not a fast exploration: the correct shop passes everything.
        // The newsletter has a weakness of its own under load (saturation: Python's
        // `http.server` listens with a backlog of 5), which the same build on both sides may
        // show on one side only: its failures are printed, not asserted away.
        let failed: Vec<String> = shared.failed().map(|x| x.what()).collect();
        let errors: Vec<String> = shared.errors().map(|x| x.what()).collect();
        assert!(errors.is_empty(), "the correct {service}: errors {errors:?}");
        assert!(failed.is_empty() || !must_pass, "the correct {service}: failed {failed:?}");
        assert!(shared.unexplored.is_empty(), "the budget ran out: {:?}", shared.unexplored);
        let n = shared.ran.len();

        // As a change's gate explores once the protected branch recorded its base.
        let read = ExploreOptions { base_results: Some(BaseResults::new(store.path(), tree(), None, text)), ..xo.clone() };
        let t = Instant::now();
        let with_record = explore(&exec.config, target, &opts, &read, &|_: &Event<'_>| {}).await;
        let record_t = t.elapsed().as_secs_f64();
        assert!(with_record.error.is_none(), "exploration could not judge: {:?}", with_record.error);
        let from_record =
            with_record.ran.iter().filter(|x| x.compared.as_ref().is_some_and(|c| c.recorded.is_some())).count();

        // One by one on fresh stacks, on a sample.
        let one = ExploreOptions { jobs: 1, budget: BASELINE_SAMPLE, fresh_stacks: true, base_results: None, ..xo.clone() };
        let clock1 = Clock::default();
        let listen1 = |e: &Event<'_>| clock1.report(e);
        let (t, cpu) = (Instant::now(), Cpu::now());
        let naive = explore(&exec.config, target, &opts, &one, &listen1).await;
        let naive_t = t.elapsed().as_secs_f64();
        let naive_cpu = Cpu::now().since(cpu);
        let naive_ref = clock1.reference_seconds();
        assert!(naive.error.is_none(), "the baseline could not judge: {:?}", naive.error);
        let k = naive.ran.len().max(1);
        let per = (naive_t - naive_ref) / k as f64;
        let naive_all = naive_ref + per * n as f64;

        let p = Phases::of(&shared);
        println!(
            "exploring {service}, {n} experiments ({} skipped by reduction), each on the change and the base, --jobs 2",
            shared.skipped.len()
        );
        println!("  shared stacks, reset between experiments: {shared_t:.1} s");
        println!("      reference {shared_ref:.1} s (wall)");
        println!("      {p}");
        println!("      {shared_cpu}; {:.2} core-s per experiment", shared_cpu.busy / n.max(1) as f64);
        println!(
            "  with the base's recorded results: {record_t:.1} s, {from_record} of {} experiments compared with the record ({:.2}× the shared run)",
            with_record.ran.len(),
            record_t / shared_t.max(1e-3)
        );
        let q = Phases::of(&naive);
        println!(
            "  one by one on fresh stacks: {k} of {} experiments run in {naive_t:.1} s (reference {naive_ref:.1} s), {per:.1} s each: extrapolated to {n}: {naive_all:.1} s",
            naive.planned
        );
        println!("      {q}");
        println!("      {naive_cpu}; {:.2} core-s per experiment", naive_cpu.busy / k as f64);
        let known: Vec<String> = shared.known_weaknesses().map(|x| x.what()).collect();
        let listed = |what: &str, l: &[String]| if l.is_empty() { String::new() } else { format!(" ({what}: {})", l.join("; ")) };
        println!(
            "explore {service}: {n} experiments in {shared_t:.1} s, {:.2}× faster than one by one on fresh stacks (sampled {k}, extrapolated), {} known weaknesses{}, {} failed on one side only{}",
            naive_all / shared_t.max(1e-3),
            known.len(),
            listed("the base fails them too", &known),
            failed.len(),
            listed("timing", &failed),
        );
    });
}

/// CPU time spent while a measured run ran (Linux; zeros elsewhere), as `benches/gate.rs`
/// counts it.
#[derive(Clone, Copy, Default)]
struct Cpu {
    busy: f64,
    containers: f64,
    faultline: f64,
}

impl Cpu {
    fn now() -> Cpu {
        let tick = 100.0;
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
        let stat = read("/proc/self/stat");
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let g = |n: usize| f.get(n - 3).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0) / tick;
        Cpu { busy, containers, faultline: g(14) + g(15) }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            busy: self.busy - before.busy,
            containers: self.containers - before.containers,
            faultline: self.faultline - before.faultline,
        }
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cpu {:.1} core-s: containers {:.1}, faultline {:.1}, docker and the rest {:.1}",
            self.busy,
            self.containers,
            self.faultline,
            self.busy - self.containers - self.faultline
        )
    }
}
