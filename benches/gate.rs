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
use faultline::gate::{GateReport, GateRequest, gate};
use faultline::plan::{ConfigFrom, PlanRequest};
use faultline::repo::{Repo, Snapshot};
use faultline::runner::{RunOptions, prepare_once, run};

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

fn target_env() -> Vec<(String, String)> {
    let t = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{}/target/shop", env!("CARGO_MANIFEST_DIR")));
    vec![("CARGO_TARGET_DIR".into(), t)]
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
        },
        approved_by: vec!["alice@shop.example".into()],
        code_host: None,
        seed: 3,
        timeout: None,
        ready_timeout: Duration::from_secs(60),
        jobs,
        prepare_env: target_env(),
        partition: None,
        only: None,
        fresh_stacks: false,
        stacks_ahead,
        explore_budget: Duration::from_secs(300),
    }
}

/// The correct shop, approved by a senior: the gate must allow, having judged it.
fn allowed(r: &GateReport) {
    assert_eq!(r.decision, faultline::verdict::Decision::Allow, "expected allow: {}", r.reasons.join("; "));
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
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = faultline::demo::prepare(dir.path()).expect("shop");
    let quiet = |_: &str| {};

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
            let t = Instant::now();
            let r = gate(&root, &request(&branch, jobs), &quiet).await;
            let took = t.elapsed();
            allowed(&r);
            assert!(r.scenarios.len() >= 6, "the payments change runs the shop's scenarios: {}", breakdown(&r));
            gates.push((jobs, took, r));
        }
        // The same gate with no stack made ready ahead of the scenarios (as before
        // --stacks-ahead): each stack starts or resets when its scenario's turn comes.
        let branch = payments_change(&root, 6);
        let t = Instant::now();
        let behind = gate(&root, &request_ahead(&branch, 2, Some(0)), &quiet).await;
        let behind_t = t.elapsed();
        allowed(&behind);
        // The same gate with a fresh stack per scenario (the gate before stacks were shared).
        let branch = payments_change(&root, 5);
        let t = Instant::now();
        let fresh = gate(&root, &request_with(&branch, 2, true), &quiet).await;
        let fresh_t = t.elapsed();
        allowed(&fresh);

        // Naive: every scenario, a fresh stack each, one service at a time, one scenario at
        // a time, after the same build.
        let branch = payments_change(&root, 4);
        let t = Instant::now();
        let repo = Repo::discover(&root).unwrap();
        let export = faultline::gate::export(&repo, &branch).unwrap();
        let spec = ChangeSpec::Revisions { base: "main".into(), head: branch.clone() };
        let (loaded, snap) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Base).unwrap();
        assert_eq!(snap, Snapshot::Commit { rev: "main".into(), oid: repo.resolve("main").unwrap() });
        let all = faultline::scenario::load_all(&repo, &snap, &loaded).unwrap();
        let mut opts = RunOptions::new(3, export.path().to_path_buf(), Duration::from_secs(60), String::new());
        opts.prepare_env = target_env();
        opts.sequential_start = true;
        let refs: Vec<_> = all.iter().collect();
        let prepared = prepare_once(&refs, &loaded.config, &mut opts).await.unwrap();
        let built_t = t.elapsed();
        let (mut stacks, mut runs, mut teardown, mut failed) = (0.0, 0.0, 0.0, 0);
        for s in &all {
            let o = run(s, &loaded.config, &opts).await.0;
            stacks += o.stack_seconds;
            runs += o.run_seconds;
            teardown += o.teardown_seconds;
            failed += usize::from(o.status != faultline::verdict::Status::Passed);
        }
        let naive_t = t.elapsed();
        // A fast wrong answer is not a fast gate: every verdict is checked before a number
        // is printed.
        assert_eq!(failed, 0, "the naive run must pass every scenario on the correct shop");

        println!("time to verdict on the shop (images and main's binaries prebuilt; each change builds its own)");
        println!("  docs-only change                  {:>6.2} s   (target < 2 s)   {}", docs_t.as_secs_f64(), breakdown(&docs));
        for (jobs, t, r) in &gates {
            println!("  payments-only change, --jobs {jobs}    {:>6.2} s   {}", t.as_secs_f64(), breakdown(r));
        }
        println!(
            "  naive: all {} scenarios one by one, services started one at a time {:>6.2} s   (build {:.1} s, images {:.2} s; summed: stacks up {stacks:.1} s, faults/steps/checks {runs:.1} s, teardown {teardown:.1} s; {failed} not passed)",
            all.len(),
            naive_t.as_secs_f64(),
            built_t.as_secs_f64() - prepared.images_seconds,
            prepared.images_seconds,
        );
        println!("  payments-only change, --jobs 2, --fresh-stacks {:>6.2} s   {}", fresh_t.as_secs_f64(), breakdown(&fresh));
        println!("  payments-only change, --jobs 2, --stacks-ahead 0 {:>6.2} s   {}", behind_t.as_secs_f64(), breakdown(&behind));
        // Per scenario: what it waited for before its steps, and its stack's removal.
        let per = |r: &GateReport, reused: bool| {
            let s: Vec<_> = r.scenarios.iter().filter(|o| o.stack.reused == reused).collect();
            let n = s.len().max(1) as f64;
            (s.len(), s.iter().map(|o| o.stack_seconds).sum::<f64>() / n)
        };
        let (n_fresh, up) = per(&fresh, false);
        let down = fresh.timings.teardown_seconds / n_fresh.max(1) as f64;
        let shared = &gates[1].2;
        let (n_reused, reset) = per(shared, true);
        println!(
            "  per-scenario stack overhead: fresh start {up:.2} s + removal {down:.2} s ({n_fresh} scenarios) vs reset {reset:.2} s ({n_reused} of {} scenarios reused) = {:.1}× less",
            shared.scenarios.len(),
            (up + down) / reset.max(1e-3)
        );
        let ratios: Vec<String> = gates
            .iter()
            .map(|(jobs, t, _)| format!("{:.2}× with --jobs {jobs}", naive_t.as_secs_f64() / t.as_secs_f64()))
            .collect();
        println!("  naive / payments-only gate: {}   (target ≥ 3×)", ratios.join(", "));
        println!("  fresh stacks / shared stacks at --jobs 2: {:.2}×", fresh_t.as_secs_f64() / gates[1].1.as_secs_f64());
        println!(
            "  no stack ahead / stacks ahead (default) at --jobs 2: {:.2}×",
            behind_t.as_secs_f64() / gates[1].1.as_secs_f64()
        );
        println!("one-service gate: {:.2}× faster than naive", naive_t.as_secs_f64() / gates[1].1.as_secs_f64());
    });
}
