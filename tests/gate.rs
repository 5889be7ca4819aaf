//! `faultline gate` end to end on real repositories and the real Docker Engine, with the
//! relay fixture as the services: verdicts, exit codes, verdict.json, sign-off, the base
//! revision's authority, unverifiable changes, and order independence.

mod common;

use common::TestRepo;
use serde_json::Value;

const CONFIG: &str = concat!(
    "version: 1\n",
    relay_services!("1"),
    r#"global: ["images/**"]
policy:
  tiers:
    high: ["api/**", "images/**"]
    low: ["**/*.md"]
  gate:
    high: { scenarios: affected, signoff: seniors }
    low: { scenarios: none }
  seniors: ["alice@shop.example"]
"#
);

const PASSES: &str = r#"name: db-slow
target: api
why: db gets slow under load; api must still answer.
faults:
  - on: api -> db
    latency: 200ms
steps:
  - request: GET api /call
    repeat: 2
    expect: { status: [200], within: 5s }
checks:
  - recovers: { request: GET api /call, within: 10s }
  - logs: { service: api, forbid: ["Traceback"] }
"#;

const FAILS: &str = r#"name: db-paused
target: api
why: api must answer 200 within 2 s even when db stalls (INC-42).
faults:
  - on: db
    pause: true
    for: 3s
steps:
  - request: GET api /call
    expect: { status: [200], within: 2s }
"#;

fn repo(scenarios: &[(&str, &str)]) -> TestRepo {
    repo_with(scenarios, &[])
}

/// [`repo`] with more files.
fn repo_with(scenarios: &[(&str, &str)], more: &[(&str, &str)]) -> TestRepo {
    let files = [("api/main.txt", "api v1\n"), ("db/main.txt", "db v1\n"), ("README.md", "# repo\n")];
    TestRepo::relay(CONFIG, scenarios, &[&files[..], more].concat())
}

fn gate(r: &TestRepo, extra: &[&str]) -> (i32, Value, String) {
    r.with_report(&[&["gate", "--base", "main", "--seed", "5"], extra].concat(), &[])
}

fn statuses(v: &Value) -> Vec<(String, String)> {
    v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().into(), s["status"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn failing_scenario_blocks_with_why_expected_observed_and_repro() {
    let r = repo(&[("db-slow", PASSES), ("db-paused", FAILS)]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change\n\nCo-authored-by: Claude <noreply@anthropic.com>\nReviewed-by: Alice <alice@shop.example>");
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["decision"], "block");
    assert_eq!(statuses(&v), [("db-paused".into(), "failed".into()), ("db-slow".into(), "passed".into())]);
    assert_eq!(v["signoff"]["satisfied"], true, "approved by a senior through --approved-by");
    // The change's own Reviewed-by trailer is shown as ignored, never counted.
    assert_eq!(v["signoff"]["ignored"][0]["trailer"], "Reviewed-by: Alice <alice@shop.example>");
    let failed = &v["scenarios"][0];
    assert_eq!(failed["steps"][0]["passed"], false);
    assert!(failed["steps"][0]["observed"].as_str().unwrap().contains("502"), "{}", failed["steps"][0]);
    assert!(failed["repro"].as_str().unwrap().contains("faultline run --scenario db-paused --seed 5"));
    assert!(text.contains("why: api must answer 200 within 2 s even when db stalls (INC-42)."), "{text}");
    // Observations of every edge are in the report.
    assert!(v["scenarios"][1]["edges"]["api -> db"]["requests"].as_array().unwrap().len() >= 2);
}

#[test]
fn docs_only_change_is_allowed_without_starting_anything() {
    let r = repo(&[("db-slow", PASSES)]);
    r.write("README.md", "# repo v2\n");
    r.commit("docs");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["scenarios"], serde_json::json!([]));
    assert!(v["reasons"][0].as_str().unwrap().contains("no scenario selected"), "{v}");
}

#[test]
fn missing_signoff_blocks_and_an_approval_allows() {
    let r = repo(&[("db-slow", PASSES)]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(statuses(&v), [("db-slow".into(), "passed".into())]);
    assert!(v["reasons"].as_array().unwrap().iter().any(|x| x.as_str().unwrap().contains("sign-off")), "{v}");
    let (code, v, text) = gate(&r, &["--approved-by", "Alice <ALICE@shop.example>"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["approvals"][0]["senior"], true);
    let (code, _, _) = gate(&r, &["--approved-by", "mallory@shop.example"]);
    assert_eq!(code, 1, "an approval by a non-senior does not count");
}

#[test]
fn the_base_revision_decides_a_deleted_scenario_still_runs() {
    let r = repo(&[("db-slow", PASSES), ("db-paused", FAILS)]);
    r.remove("scenarios/db-paused.yaml");
    r.write(
        "faultline.yaml",
        CONFIG.replace("high: { scenarios: affected, signoff: seniors }", "high: { scenarios: none }"),
    );
    r.write("api/main.txt", "api v2\n");
    r.commit("simplify the gate");
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["tier"], "high");
    assert!(statuses(&v).contains(&("db-paused".into(), "failed".into())), "{v}");
}

#[test]
fn a_change_that_cannot_be_built_is_unverified() {
    let r = repo(&[("db-slow", PASSES)]);
    r.write("images/relay/Dockerfile", "FROM debian:bookworm-slim\nRUN echo broken-marker && exit 7\n");
    r.commit("break the image");
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(v["decision"], "unverified");
    assert!(v["reasons"][0].as_str().unwrap().contains("broken-marker"), "the build log is in the reason: {v}");
}

#[test]
fn a_bad_scenario_in_the_base_is_unverified_with_its_location() {
    let r = repo(&[("db-slow", &PASSES.replace("latency: 200ms", "latency: 200mss"))]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "{text}");
    let reason = v["reasons"][0].as_str().unwrap();
    assert!(reason.contains("scenarios/db-slow.yaml:6:") && reason.contains("200mss"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_do_not_depend_on_the_order_scenarios_run_in() {
    use faultline::runner::run;
    use faultline::stack::RunOptions;
    let r = repo(&[]);
    let origin = faultline::config::ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    let config =
        faultline::config::parse(faultline::config::SourceFile::new("faultline.yaml", CONFIG), origin).unwrap().config;
    let a = faultline::scenario::parse("scenarios/db-slow.yaml", PASSES.into(), &config).unwrap();
    let b = faultline::scenario::parse("scenarios/db-paused.yaml", FAILS.into(), &config).unwrap();
    let opts = RunOptions {
        seed: 9,
        root: r.path.clone(),
        keep: false,
        ready_timeout: std::time::Duration::from_secs(60),
        repro_prefix: "faultline run".into(),
        prepare_env: Vec::new(),
        prepared: false,
        build_cache: Default::default(),
        sequential_start: false,
        images_during_build: true,
        teardowns: None,
    };
    let summary = |o: &faultline::outcome::ScenarioOutcome| {
        (
            o.name.clone(),
            o.status,
            o.steps.iter().map(|s| s.passed).collect::<Vec<_>>(),
            o.checks.iter().map(|c| c.passed).collect::<Vec<_>>(),
        )
    };
    let mut first = Vec::new();
    for s in [&a, &b] {
        first.push(summary(&run(s, &config, &opts).await.0));
    }
    let mut second = Vec::new();
    for s in [&b, &a] {
        second.push(summary(&run(s, &config, &opts).await.0));
    }
    second.reverse();
    assert_eq!(first, second);
    assert_eq!(first[0].1, faultline::outcome::Status::Passed);
    assert_eq!(first[1].1, faultline::outcome::Status::Failed);

    // With stacks shared and reset between scenarios, in either order: the same verdicts,
    // and the same requests observed on every edge (method, path, status, in order).
    let observed = |o: &faultline::outcome::ScenarioOutcome| {
        o.edges
            .iter()
            .map(|(edge, obs)| {
                let mut r: Vec<String> = obs
                    .requests
                    .iter()
                    .map(|q| format!("{} {} {:?} {:?}", q.method, q.path, q.status, q.fault))
                    .collect();
                // Readiness probes of a recreated service are not the scenario's.
                r.retain(|q| !q.starts_with("GET /health"));
                (edge.clone(), r)
            })
            .collect::<Vec<_>>()
    };
    for order in [[&a, &b, &a, &b], [&b, &a, &b, &a]] {
        let pool = faultline::runner::pool::StackPool::new(order.iter().map(|s| &**s));
        let mut shared = Vec::new();
        for s in order {
            let o = pool.run(s, &config, &opts).await;
            shared.push((summary(&o), observed(&o), o.stack.reused));
        }
        let (_, counts) = pool.finish().await;
        assert_eq!(counts.discarded, 0, "{counts:?}");
        assert_eq!(shared.iter().filter(|x| x.2).count(), 3, "one stack, reused three times");
        // The same scenario gives the same outcome on a fresh stack and on a reused one.
        assert_eq!(shared[0].0, shared[2].0);
        assert_eq!(shared[1].0, shared[3].0);
        // What crossed the edges, for the scenario whose traffic does not race a pause (a
        // paused dependency's late answer may or may not be recorded before the checks).
        if shared[0].0.0 == a.name {
            assert_eq!(shared[0].1, shared[2].1, "observations on a reused stack");
        } else {
            assert_eq!(shared[1].1, shared[3].1, "observations on a reused stack");
        }
        let fresh = |name: &str| first.iter().find(|f| f.0 == name).cloned().unwrap();
        for (s, _, _) in &shared {
            assert_eq!(*s, fresh(&s.0), "reused vs fresh for {}", s.0);
        }
    }
}

/// `--fresh-stacks` starts a stack per scenario, and verdict.json counts them; otherwise
/// scenarios of the same services share one, reset between them, unless the next one's
/// stack is started ahead while the first runs (`--stacks-ahead`).
#[test]
fn fresh_stacks_are_counted_and_shared_ones_reused() {
    let again = PASSES.replace("name: db-slow", "name: db-slow-again");
    let r = repo(&[("db-slow", PASSES), ("db-slow-again", &again)]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let stacks = |extra: &[&str]| {
        let (code, v, text) = gate(&r, &[&["--approved-by", "alice@shop.example", "--jobs", "1"], extra].concat());
        assert_eq!(code, 0, "{text}");
        let s = &v["timings"]["stacks"];
        (s["started"].as_u64().unwrap(), s["reused"].as_u64().unwrap())
    };
    assert_eq!(stacks(&["--stacks-ahead", "0"]), (1, 1));
    assert_eq!(stacks(&["--stacks-ahead", "1"]), (2, 0));
    assert_eq!(stacks(&["--fresh-stacks"]), (2, 0));
}

#[test]
fn a_check_the_change_drops_from_its_scenario_still_runs() {
    // The base's scenario uses a template whose recovery check this api fails (it answers
    // 200, the scenario wants 418).
    let base = r#"name: db-down
use: dependency-down
with:
  client: api
  dependency: db
  request: GET api /call
  status: [200, 502, 503, 504]
  within: 5s
  probe: GET api /call
  probe_status: [418]
  recover_within: 2s
"#;
    let r = repo(&[("db-down", base)]);
    // The change leaves that check out of the scenario (`drop_checks`, new in the scenario
    // keys) along with its code change: the scenario is read from the base, so it still runs.
    r.write("scenarios/db-down.yaml", base.replace("with:\n", "drop_checks: [recovers]\nwith:\n"));
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(statuses(&v), [("db-down".into(), "failed".into())]);
    let checks = v["scenarios"][0]["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["passed"] == false && c["check"].as_str().unwrap_or("").contains("recover")),
        "{v}"
    );
}

/// What happens inside a run reaches a listener as typed events, in the order it happened,
/// and agrees with the outcome: the stack ready, the fault in place before the first step,
/// every step, the fault undone before the checks, every check; on a shared stack, the
/// reset says so.
#[tokio::test(flavor = "multi_thread")]
async fn events_inside_a_run_arrive_in_order_and_agree_with_the_outcome() {
    use faultline::runner::event::Event;
    use faultline::stack::RunOptions;
    let r = repo(&[]);
    let origin = faultline::config::ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    let config =
        faultline::config::parse(faultline::config::SourceFile::new("faultline.yaml", CONFIG), origin).unwrap().config;
    let timed = PASSES.replace(
        "    latency: 200ms\n",
        "    latency: 200ms\n  - on: api -> db\n    at: 100ms\n    for: 100ms\n    latency: 50ms\n",
    );
    let s = faultline::scenario::parse("scenarios/db-slow.yaml", timed, &config).unwrap();
    let opts = RunOptions::new(3, r.path.clone(), std::time::Duration::from_secs(60), "faultline run".into());
    let seen = std::sync::Mutex::new(Vec::<String>::new());
    let listener = |e: &Event<'_>| {
        let line = match e {
            Event::StackReady { stack, .. } => format!("stack reused={}", stack.reused),
            Event::FaultApplied { fault, at_ms, .. } => {
                format!("applied {fault} {}", if *at_ms == 0.0 { "at 0" } else { "later" })
            }
            Event::FaultUndone { fault, .. } => format!("undone {fault}"),
            Event::StepFinished { step, .. } => format!("step {} {}", step.index, step.passed),
            Event::CheckFinished { check, .. } => format!("check {} {}", check.index, check.passed),
            _ => return,
        };
        seen.lock().unwrap().push(line);
    };
    let pool = faultline::runner::pool::StackPool::new([&s, &s]);
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        seen.lock().unwrap().clear();
        let o = pool.run_reporting(&s, &config, &opts, &listener).await;
        outcomes.push((o, std::mem::take(&mut *seen.lock().unwrap())));
    }
    pool.finish().await;
    for (i, (o, events)) in outcomes.iter().enumerate() {
        assert_eq!(o.status, faultline::outcome::Status::Passed, "{o:?}");
        let pos =
            |want: &str| events.iter().position(|e| e == want).unwrap_or_else(|| panic!("no {want:?} in {events:?}"));
        assert_eq!(events[0], format!("stack reused={}", i == 1), "{events:?}");
        // The fault due at once is in place before the first step; the timed one later.
        assert!(pos("applied faults[0] at 0") < pos("step 0 true"), "{events:?}");
        assert!(pos("applied faults[1] later") < pos("undone faults[1]"), "{events:?}");
        let steps: Vec<&String> = events.iter().filter(|e| e.starts_with("step ")).collect();
        let want: Vec<String> = o.steps.iter().map(|s| format!("step {} {}", s.index, s.passed)).collect();
        assert_eq!(steps, want.iter().collect::<Vec<_>>(), "{events:?}");
        let checks: Vec<&String> = events.iter().filter(|e| e.starts_with("check ")).collect();
        let want: Vec<String> = o.checks.iter().map(|c| format!("check {} {}", c.index, c.passed)).collect();
        assert_eq!(checks, want.iter().collect::<Vec<_>>(), "{events:?}");
        // Every fault undone before the first check.
        assert!(pos("undone faults[0]") < pos("check 0 true"), "{events:?}");
        assert!(pos("undone faults[1]") < pos("check 0 true"), "{events:?}");
    }
}

/// A container of the stack removed from outside in the middle of a scenario (`docker rm -f`
/// by another tool on the runner) says nothing about the change: could not verify, naming
/// the container and what the engine reported, not a block blamed on the change.
#[test]
fn a_container_removed_from_outside_is_could_not_verify_not_the_changes_fault() {
    // A service name no other test uses: the test removes its container by that label.
    let name = format!("vanish{}", std::process::id());
    let config =
        CONFIG.replace("  db:\n", &format!("  {name}:\n")).replace("\n      db: {", &format!("\n      {name}: {{"));
    let scenario = "name: api-waits\ntarget: api\nwhy: api answers after a pause.\nsteps:\n  - sleep: 8s\n  \
                    - request: GET api /call\n    expect: { status: [200] }\n";
    let r = TestRepo::relay(
        &config,
        &[("api-waits", scenario)],
        &[("api/main.txt", "api v1\n"), ("db/main.txt", "db v1\n")],
    );
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let label = format!("label=faultline.service={name}");
    let remover = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        while std::time::Instant::now() < deadline {
            let out = std::process::Command::new("docker").args(["ps", "-q", "--filter", &label]).output().unwrap();
            let ids = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !ids.is_empty() {
                // The stack is up and the scenario is in its sleep: remove the dependency.
                std::thread::sleep(std::time::Duration::from_secs(3));
                let rm = std::process::Command::new("docker").args(["rm", "-f", ids.lines().next().unwrap()]).output();
                return rm.map(|o| o.status.success()).unwrap_or(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        false
    });
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example", "--fresh-stacks"]);
    assert!(remover.join().unwrap(), "the container was removed mid-scenario");
    assert_eq!(code, 2, "{text}");
    assert_eq!(v["decision"], "unverified", "{v}");
    let error = v["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("changed from outside") && error.contains(&name) && error.contains("removed"), "{error}");
}

/// An image under faultline's tag that faultline did not build from that context (a stale
/// cache, a retagged image, one a build script made) cannot stand in for the code under
/// test: could not verify, naming the image. Before, the gate ran it and allowed.
#[test]
fn an_image_faultline_did_not_build_from_its_context_is_refused() {
    // A context no other test has: its own tag.
    let unique = format!("{} {:?}\n", std::process::id(), std::time::SystemTime::now());
    let r = repo_with(&[("db-slow", PASSES)], &[("images/relay/unique.txt", unique.as_str())]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let config = common::parse_config(CONFIG);
    let services = vec!["db".to_owned(), "api".to_owned()];
    let tag = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let docker = faultline::stack::docker::client().await.expect("docker");
        let (images, _) = faultline::stack::prepare_images(&docker, &config, &services, &r.path).await.expect("built");
        images["db"].to_string()
    });
    // Another build of the relay, put under that tag.
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker").args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let foreign = format!("faultline-test-foreign-{}", std::process::id());
    docker(&["build", "-q", "-t", &foreign, r.path.join("images/relay").to_str().unwrap()]);
    docker(&["tag", &foreign, &tag]);
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example"]);
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag, &foreign]).output();
    assert_eq!(code, 2, "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains(&tag) && reasons.contains("not what faultline built"), "{reasons}");
}
