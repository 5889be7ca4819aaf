//! Time to verdict on the example shop, measured side by side in one run:
//!
//! - the gate on a docs-only change (nothing to start),
//! - the gate on a change to `payments` only (its scenarios and those of what depends on
//!   it, a fresh stack each, a level of services at once), with --jobs 1 and 2,
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
use faultline::scenario::run::{RunOptions, prepare_once, run};

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
    GateRequest {
        plan: PlanRequest {
            change: ChangeSpec::Revisions { base: "main".into(), head: head.into() },
            config_from: ConfigFrom::Base,
            labels: Vec::new(),
        },
        approved_by: vec!["alice@shop.example".into()],
        seed: 3,
        timeout: None,
        ready_timeout: Duration::from_secs(60),
        jobs,
        prepare_env: target_env(),
    }
}

fn breakdown(r: &GateReport) -> String {
    let stack: f64 = r.scenarios.iter().map(|s| s.stack_seconds).sum();
    let runs: f64 = r.scenarios.iter().map(|s| s.run_seconds).sum();
    format!(
        "plan {:.2} s, {} scenarios: stacks {:.1} s + faults/steps/checks/teardown {:.1} s (summed), verdict {:?}",
        r.timings.plan_seconds,
        r.scenarios.len(),
        stack,
        runs,
        r.decision
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = faultline::demo::prepare(dir.path()).expect("shop");
    // A change to payments only, and the docs fix the demo made.
    git(&root, &["checkout", "-q", "-b", "payments-only", "main"]);
    let p = root.join("services/payments/src/main.rs");
    let src = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, src.replace("const DB_TIMEOUT", "/// Database calls give up after this.\nconst DB_TIMEOUT"))
        .unwrap();
    git(&root, &["commit", "-q", "-am", "Document the database timeout"]);
    git(&root, &["checkout", "-q", "main"]);
    let quiet = |_: &str| {};

    rt.block_on(async {
        // Warm up: images and the shop's binaries.
        let t = Instant::now();
        let warm = gate(&root, &request("payments-only", 1), &quiet).await;
        println!(
            "warm-up (builds images and the shop): {:.1} s, verdict {:?}",
            t.elapsed().as_secs_f64(),
            warm.decision
        );

        let t = Instant::now();
        let docs = gate(&root, &request("docs-fix", 1), &quiet).await;
        let docs_t = t.elapsed();

        let t = Instant::now();
        let one = gate(&root, &request("payments-only", 1), &quiet).await;
        let one_t = t.elapsed();

        let t = Instant::now();
        let two = gate(&root, &request("payments-only", 2), &quiet).await;
        let two_t = t.elapsed();

        // Naive: every scenario, a fresh stack each, one service at a time.
        let t = Instant::now();
        let repo = Repo::discover(&root).unwrap();
        let spec = ChangeSpec::Revisions { base: "main".into(), head: "payments-only".into() };
        let (loaded, snap) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Base).unwrap();
        assert_eq!(snap, Snapshot::Commit { rev: "main".into(), oid: repo.resolve("main").unwrap() });
        let all = faultline::scenario::load_all(&repo, &snap, &loaded).unwrap();
        let mut opts = RunOptions {
            seed: 3,
            root: root.clone(),
            keep: false,
            ready_timeout: Duration::from_secs(60),
            repro_prefix: String::new(),
            prepare_env: target_env(),
            prepared: false,
            sequential_start: true,
        };
        let refs: Vec<_> = all.iter().collect();
        prepare_once(&refs, &loaded.config, &mut opts).await.unwrap();
        let mut naive_stack = 0.0;
        for s in &all {
            naive_stack += run(s, &loaded.config, &opts).await.0.stack_seconds;
        }
        let naive_t = t.elapsed();

        println!("time to verdict on the shop (images and binaries prebuilt)");
        println!(
            "  docs-only change                 {:>6.2} s   (target < 2 s)   {}",
            docs_t.as_secs_f64(),
            breakdown(&docs)
        );
        println!("  payments-only change, --jobs 1   {:>6.2} s   {}", one_t.as_secs_f64(), breakdown(&one));
        println!("  payments-only change, --jobs 2   {:>6.2} s   {}", two_t.as_secs_f64(), breakdown(&two));
        println!(
            "  naive: all {} scenarios, sequential start {:>6.2} s   (stacks {naive_stack:.1} s summed)",
            all.len(),
            naive_t.as_secs_f64()
        );
        println!(
            "  naive / one-service gate: {:.2}× with --jobs 1, {:.2}× with --jobs 2   (target ≥ 3×)",
            naive_t.as_secs_f64() / one_t.as_secs_f64(),
            naive_t.as_secs_f64() / two_t.as_secs_f64()
        );
    });
}
