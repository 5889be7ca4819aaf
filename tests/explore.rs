//! Exploration: the experiments generated from the shop's workloads (which edges, which
//! faults, which oracles), the errors of a bad `explore` section, and `faultline explore`
//! through the binary on the relay fixture, where it finds a missing deadline nobody wrote a
//! scenario for and proposes the scenario.

mod common;

use std::time::Duration;

use common::{TestRepo, only, redis_image};
use faultline::config::{ConfigOrigin, LoadedConfig};
use faultline::scenario::experiments::{Experiment, Mode, UsedEdge, catalogue, reference, workload};

fn shop() -> LoadedConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/faultline.yaml");
    let origin = ConfigOrigin::Worktree { path: path.into() };
    faultline::config::parse_bytes("faultline.yaml", std::fs::read(path).unwrap(), origin).unwrap()
}

/// Both streams of a run of the binary.
fn output(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn edge(from: &str, to: &str, http: bool) -> UsedEdge {
    UsedEdge { from: from.into(), to: to.into(), http, passes: 1, statuses: Vec::new(), first: None, calls: 1 }
}

#[test]
fn experiments_cover_only_the_edges_the_workload_used() {
    let loaded = shop();
    let w = workload(&loaded, "orders").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    assert!(r.scenario.faults.is_empty(), "the reference has no fault");
    // The reference saw traffic on orders -> payments and orders -> postgres only.
    let used = [edge("orders", "payments", true), edge("orders", "postgres", false)];
    let x = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &["orders".into()], 800.0).unwrap();
    let edges: std::collections::BTreeSet<&str> = x.iter().map(|e| e.on.as_str()).collect();
    for on in &edges {
        assert!(
            ["orders -> payments", "orders -> postgres", "postgres", "payments", "redis", "orders"].contains(on),
            "an experiment on {on}, which the workload did not use"
        );
    }
    assert!(!edges.contains("orders -> redis"), "no traffic flowed there");
    // HTTP faults only where HTTP flows.
    let classes = |on: &str| -> Vec<&str> { x.iter().filter(|e| e.on == on).map(|e| e.class.as_str()).collect() };
    assert!(classes("orders -> payments").contains(&"reply-lost"));
    assert!(classes("orders -> payments").contains(&"throttled"));
    assert!(!classes("orders -> postgres").contains(&"reply-lost"));
    assert!(classes("orders -> postgres").contains(&"unresponsive"));
    // Each once one at a time and once 4 at once, an outage per edge, restarts.
    let modes = |class: &str| x.iter().filter(|e| e.on == "orders -> payments" && e.class == class).count();
    assert_eq!(modes("down"), 2);
    assert_eq!(x.iter().filter(|e| e.mode == Mode::Sustained).count(), 2);
    assert!(x.iter().any(|e| e.on == "orders" && e.class == "restarted"), "the service under test restarts");
    // Its own lifecycle: started again while each of its dependencies is down, one experiment
    // per edge of its own, the dependency down and the service killed while it is.
    let lifecycle: Vec<&Experiment> = x.iter().filter(|e| e.class == "lifecycle-start-while-down").collect();
    let on: Vec<&str> = lifecycle.iter().map(|e| e.on.as_str()).collect();
    assert_eq!(on, ["orders -> payments", "orders -> postgres"]);
    for e in &lifecycle {
        assert_eq!(e.faults.len(), 2, "{}", e.text);
        assert_eq!((e.faults[0]["on"].as_str(), e.faults[0]["down"].as_bool()), (Some(e.on.as_str()), Some(true)));
        assert_eq!((e.faults[1]["on"].as_str(), e.faults[1]["kill"].as_bool()), (Some("orders"), Some(true)));
        assert!(e.text.contains("recovers"), "{}", e.text);
    }
    assert_eq!(lifecycle[0].name, "explore-orders-orders-payments-lifecycle-start-while-down-seq");
    assert!(x.iter().any(|e| e.on == "postgres" && e.class == "paused"));
    // Names are unique: each is a scenario of its own.
    let names: std::collections::BTreeSet<&str> = x.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), x.len());
    // Every experiment carries recovery, no crash, and the invariants.
    for e in &x {
        let checks: Vec<String> = e.scenario.checks.iter().map(|c| format!("{c:?}")).collect();
        assert!(checks.iter().any(|c| c.contains("Recovers")), "{}: no recovery check", e.name);
        assert!(checks.iter().any(|c| c.contains("panicked at")), "{}: no crash check", e.name);
        assert!(checks.iter().any(|c| c.contains("GROUP BY order_id")), "{}: no invariant", e.name);
    }
}

/// Issue 24's flavours: the transient failures carry the bodies intermediaries send, one
/// class more per HTTP edge (a large page, one request at a time); the dependency's own
/// error statuses, declared on the edge (`errors:`) or seen in the reference, each an
/// experiment one request at a time that is no flavour of a transient failure.
#[test]
fn error_bodies_and_the_dependencys_own_statuses_join_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/faultline.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace(
        r#"payments: { env: PAYMENTS_URL, url: "http://{host}:{port}" }"#,
        r#"payments: { env: PAYMENTS_URL, url: "http://{host}:{port}", errors: [409, 404, 503] }"#,
    );
    let origin = ConfigOrigin::Worktree { path: path.into() };
    let loaded = faultline::config::parse_bytes("faultline.yaml", text.into_bytes(), origin).unwrap();
    let w = workload(&loaded, "orders").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    let catalogue_with = |statuses: Vec<u16>| {
        let mut payments = edge("orders", "payments", true);
        payments.statuses = statuses;
        let used = [payments, edge("orders", "postgres", false)];
        catalogue(&w, &loaded.config, &used, &r.scenario.stack, &["orders".into()], 800.0).unwrap()
    };
    // The reference saw the dependency answer 404 (declared too), 422 and 503 of its own.
    let x = catalogue_with(vec![404, 422, 503]);
    let on = |x: &[Experiment], edge: &str| -> Vec<(String, Mode)> {
        x.iter().filter(|e| e.on == edge).map(|e| (e.class.clone(), e.mode)).collect()
    };
    let payments = on(&x, "orders -> payments");
    let own: Vec<&(String, Mode)> = payments.iter().filter(|(c, _)| c.starts_with("dependency-")).collect();
    assert_eq!(
        own,
        [
            &("dependency-409".to_owned(), Mode::Sequential),
            &("dependency-404".to_owned(), Mode::Sequential),
            &("dependency-422".to_owned(), Mode::Sequential)
        ],
        "declared first, then seen; once each; not the catalogue's own 503"
    );
    let e = x.iter().find(|e| e.class == "dependency-409").unwrap();
    let f = &e.faults[0]["http"];
    assert_eq!((f["status"].as_u64(), f["first"].as_u64()), (Some(409), Some(2)), "{}", e.text);
    assert_eq!(f["headers"]["Content-Type"], "application/problem+json", "{}", e.text);
    assert!(faultline::scenario::experiments::family("dependency-409").is_none(), "an answer, not a blip");
    // The transient flavours, each with its body.
    let fault = |class: &str| {
        x.iter().find(|e| e.class == class && e.on == "orders -> payments").unwrap().faults[0]["http"].clone()
    };
    assert!(fault("errors-first-502")["body"].as_str().unwrap().contains("<center>nginx</center>"));
    assert_eq!(fault("errors-first-502")["headers"]["Content-Type"], "text/html");
    assert_eq!(fault("errors-first-504")["headers"]["Content-Type"], "text/plain");
    assert!(fault("errors-first-500").get("body").is_none(), "500 empty");
    assert_eq!(fault("errors-first")["headers"]["Content-Type"], "application/problem+json");
    let large = fault("errors-first-large");
    assert_eq!((large["status"].as_u64(), large["body_bytes"].as_u64()), (Some(503), Some(256 * 1024)));
    assert!(large["headers"]["Content-Type"].as_str().unwrap().contains("charset=iso-8859-1"));
    assert_eq!(faultline::scenario::experiments::family("errors-first-large"), Some("transient"));
    // What it costs: with neither declared nor seen statuses, one experiment more per HTTP
    // edge than the catalogue without bodies (the large page, one request at a time).
    let plain = faultline::config::parse_bytes(
        "faultline.yaml",
        std::fs::read(path).unwrap(),
        ConfigOrigin::Worktree { path: path.into() },
    )
    .unwrap();
    let w0 = workload(&plain, "orders").unwrap();
    let used = [edge("orders", "payments", true)];
    let x0 = catalogue(&w0, &plain.config, &used, &r.scenario.stack, &[], 800.0).unwrap();
    let per_edge = on(&x0, "orders -> payments");
    assert_eq!(per_edge.iter().filter(|(c, _)| c == "errors-first-large").count(), 1);
    assert!(!per_edge.iter().any(|(c, _)| c.starts_with("dependency-")));
    // Every experiment is still a valid scenario with a unique name.
    let names: std::collections::BTreeSet<&str> = x.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), x.len());
    // A non-HTTP edge gets none of them.
    assert!(!on(&x, "orders -> postgres").iter().any(|(c, _)| c.starts_with("dependency-") || c.starts_with("errors")));
}

#[test]
fn an_optional_dependency_must_not_fail_the_workload() {
    let loaded = shop();
    let w = workload(&loaded, "orders").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    let used = [edge("orders", "redis", false), edge("orders", "postgres", false)];
    let x = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &[], 800.0).unwrap();
    let text = |on: &str| x.iter().find(|e| e.on == on && e.class == "down").unwrap().text.clone();
    // redis is `optional: true` for orders: only 2xx is acceptable while it is down.
    assert!(text("orders -> redis").contains("- 201") && !text("orders -> redis").contains("- 503"));
    assert!(text("orders -> postgres").contains("- 503"), "a database outage may be answered 503");
    let paused = x.iter().find(|e| e.on == "redis" && e.class == "paused").unwrap();
    assert!(!paused.text.contains("- 503"), "{}", paused.text);
}

#[test]
fn invariants_apply_where_their_service_runs() {
    let loaded = shop();
    // Exploring payments starts no orders: the orders invariants are left out.
    let w = workload(&loaded, "payments").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    assert!(!r.text.contains("GROUP BY order_id"), "{}", r.text);
    assert_eq!(r.scenario.stack.len(), 2);
}

#[test]
fn a_bad_explore_section_is_located_in_faultline_yaml() {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/faultline.yaml")).unwrap();
    let parse = |text: String| {
        let origin = ConfigOrigin::Worktree { path: "faultline.yaml".into() };
        faultline::config::parse_bytes("faultline.yaml", text.into_bytes(), origin)
    };
    let problems = |e: faultline::config::ConfigError| match e {
        faultline::config::ConfigError::Invalid { problems, .. } => problems,
        other => panic!("{other}"),
    };
    // An unknown service, with the nearest name.
    let e = parse(base.replace("  workloads:\n    orders:", "  workloads:\n    ordres:")).unwrap_err();
    let p = problems(e);
    assert!(
        p.iter()
            .any(|d| d.message.contains("no service `ordres`") && d.help.as_deref() == Some("did you mean `orders`?")),
        "{p:?}"
    );
    // A step that is not a request.
    let e = parse(base.replace("      - request: GET orders /stock/A1", "      - sleep: 1s")).unwrap_err();
    let p = problems(e);
    let d = p.iter().find(|d| d.message.contains("workload step is a `request")).expect("located");
    assert!(d.line > 50, "{d:?}");
    // What only the scenario code knows (a malformed request line), located at the workload.
    let loaded = parse(base.replace("POST orders /orders", "FETCH orders orders")).unwrap();
    let p = problems(workload(&loaded, "orders").unwrap_err());
    assert!(p[0].message.contains("in the workload of `orders`") && p[0].line > 50, "{p:?}");
    // `max_attempts: 0` and a `when` naming no service.
    let e = parse(base.replace("explore:\n", "explore:\n  max_attempts: 0\n").replace("when: orders", "when: nobody"))
        .unwrap_err();
    let p = problems(e);
    assert!(p.iter().any(|d| d.message.contains("`max_attempts` is 1 to 100")), "{p:?}");
    assert!(p.iter().any(|d| d.message.contains("`when` names the service")), "{p:?}");
    // A class that is not in the catalogue, with the nearest; and a list of none.
    let e = parse(base.replace("explore:\n", "explore:\n  classes: [down, errors-frist]\n")).unwrap_err();
    let p = problems(e);
    let d = p.iter().find(|d| d.message.contains("`errors-frist` is not a fault class")).expect("located");
    assert!(d.help.as_deref().is_some_and(|h| h.starts_with("did you mean `errors-first`?")), "{d:?}");
    assert!(d.line > 1 && d.column > 1, "{d:?}");
    let e = parse(base.replace("explore:\n", "explore:\n  classes: []\n")).unwrap_err();
    assert!(problems(e).iter().any(|d| d.message.contains("`classes` lists no fault class")));
}

/// `explore.classes` names every class the catalogue makes, and runs only those it lists.
#[test]
fn the_classes_a_team_lists_are_the_catalogue_it_gets() {
    let loaded = shop();
    let w = workload(&loaded, "orders").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    let mut payments = edge("orders", "payments", true);
    payments.statuses = vec![404];
    // Its first request has a time in the reference: the service's stop can land in flight.
    payments.first = Some(faultline::scenario::experiments::FirstUse { step: 0, start_ms: 120 });
    let used = [payments, edge("orders", "postgres", false)];
    let all = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &["orders".into()], 800.0).unwrap();
    // Every `dependency-NNN` is listed as `dependency-errors`.
    let mut made: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| if e.class.starts_with("dependency-") { "dependency-errors" } else { e.class.as_str() })
        .collect();
    // The magnitudes of a client's own deadline, planned once slow-past-deadline found it.
    let magnitude = |class| {
        faultline::scenario::experiments::magnitude(&w, &loaded.config, &used[0], class, Duration::from_secs(1), &[])
    };
    for class in [
        faultline::scenario::experiments::SLOW_UNDER_CLIENT_DEADLINE,
        faultline::scenario::experiments::SLOW_PAST_CLIENT_DEADLINE,
    ] {
        assert_eq!(magnitude(class).unwrap().class, class);
        made.insert(class);
    }
    let known: std::collections::BTreeSet<&str> = faultline::config::FAULT_CLASSES.iter().copied().collect();
    assert_eq!(made, known, "every class the catalogue makes can be listed, and every listed one is made");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/faultline.yaml")).unwrap();
    let text = text.replace("explore:\n", "explore:\n  classes: [down, lifecycle-start-while-down]\n");
    let origin = ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    let loaded = faultline::config::parse_bytes("faultline.yaml", text.into_bytes(), origin).unwrap();
    let w = workload(&loaded, "orders").unwrap();
    let some = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &["orders".into()], 800.0).unwrap();
    let classes: std::collections::BTreeSet<&str> = some.iter().map(|e| e.class.as_str()).collect();
    assert_eq!(classes, ["down", "lifecycle-start-while-down"].into_iter().collect());
    assert_eq!(some.len(), 2 * 2 + 2, "down on 2 edges in 2 modes, a lifecycle per edge of orders");
    // `faultline explore --help` names each one.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline")).args(["explore", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = help.split(|c: char| c.is_whitespace() || c == ',').collect();
    for class in faultline::config::FAULT_CLASSES {
        assert!(words.contains(class), "`explore --help` does not name {class}:\n{help}");
    }
}

/// A magnitude of a client's own deadline: the dependency held that long on its edge, one
/// request at a time, named after its class; the steps that answered 2xx without faults may
/// answer only their success statuses, the others keep what the workload accepts.
#[test]
fn a_magnitude_of_a_clients_deadline_holds_its_edge_and_asks_for_the_fault_free_answers() {
    use faultline::scenario::experiments::{SLOW_UNDER_CLIENT_DEADLINE, magnitude};
    let loaded = shop();
    let w = workload(&loaded, "orders").unwrap();
    let on = edge("orders", "payments", true);
    let delay = std::time::Duration::from_millis(300);
    let x = magnitude(&w, &loaded.config, &on, SLOW_UNDER_CLIENT_DEADLINE, delay, &[true, false]).unwrap();
    assert_eq!(x.name, "explore-orders-orders-payments-slow-under-client-deadline-seq");
    assert_eq!(
        (x.class.as_str(), x.on.as_str(), x.mode),
        (SLOW_UNDER_CLIENT_DEADLINE, "orders -> payments", Mode::Sequential)
    );
    assert_eq!(x.faults, [serde_json::json!({ "on": "orders -> payments", "http": { "delay": "300ms" } })]);
    let statuses: Vec<&serde_json::Value> = x.steps.iter().map(|s| &s["expect"]["status"]).collect();
    assert_eq!(statuses, [&serde_json::json!([201]), &serde_json::json!([200, 503])]);
    assert!(x.steps.iter().all(|s| s["concurrency"] == 1), "{:?}", x.steps);
}

const RELAY: &str = concat!(
    "version: 1\n",
    relay_services!("@T@"),
    r#"explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 2s }
"#
);

/// `faultline explore --service api --seed 4 --budget 20s EXTRA`.
fn explore_api(r: &TestRepo, extra: &[&str]) -> std::process::Output {
    r.faultline(&[&["explore", "--service", "api", "--seed", "4", "--budget", "20s"], extra].concat())
}

#[test]
fn explore_finds_a_missing_deadline_and_proposes_the_scenario() {
    // api waits 30 s for db: nothing in the repository tests db being slow.
    let r = TestRepo::relay(&RELAY.replace("@T@", "30"), &[], &[("api/main.txt", "v1\n")]);
    let out_dir = tempfile::tempdir().unwrap();
    let report = out_dir.path().join("report");
    let write = out_dir.path().join("proposed");
    let out = explore_api(&r, &["--report", report.to_str().unwrap(), "--write", write.to_str().unwrap()]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("slow-past-deadline on api -> db"), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("explore.json")).unwrap()).unwrap();
    assert_eq!(json[0]["edges"], serde_json::json!(["api -> db"]));
    // The proposed scenario: a valid scenario file, why TODO, that the linter accepts.
    let proposed = write.join("explore-api-api-db-slow-past-deadline-seq.yaml");
    let file = std::fs::read_to_string(&proposed).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(file.contains("why: 'TODO") || file.contains("why: TODO"), "{file}");
    std::fs::create_dir_all(r.path.join("scenarios")).unwrap();
    std::fs::copy(&proposed, r.path.join("scenarios/proposed.yaml")).unwrap();
    let lint = r.faultline(&["scenario", "lint", "scenarios/proposed.yaml"]);
    assert!(lint.status.success(), "{}", common::stderr(&lint));
    // Written once: a second run finds it again and leaves the file as it is.
    let again = explore_api(&r, &["--write", write.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("(it exists)"), "{}", common::stderr(&again));
    assert_eq!(std::fs::read_to_string(&proposed).unwrap(), file);
}

#[test]
fn explore_passes_a_service_that_keeps_its_deadline() {
    let r = TestRepo::relay(&RELAY.replace("@T@", "1"), &[], &[("api/main.txt", "v1\n")]);
    let out = explore_api(&r, &[]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 failed, 0 could not run"), "{text}");
}

#[test]
fn explore_without_a_workload_cannot_judge() {
    let r = TestRepo::relay(
        &RELAY
            .replace("@T@", "1")
            .replace("    api:\n      - request", "    db:\n      - request")
            .replace("GET api /call", "GET db /health"),
        &[],
        &[],
    );
    let out = r.faultline(&["explore", "--service", "api"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("`api` has no workload"), "{}", common::stderr(&out));
}

#[test]
fn the_gate_explores_when_its_rule_says_so_and_blocks_what_it_finds() {
    // No scenario at all: only exploration can judge the change.
    let config = RELAY.replace("@T@", "1")
        + "policy:\n  tiers: { high: [\"images/**\"] }\n  gate:\n    high: { scenarios: none, explore: true }\n";
    let r = TestRepo::relay(&config, &[], &[("api/main.txt", "v1\n")]);
    // The change: the relay stops honouring its deadline.
    let relay = std::fs::read_to_string(r.path.join("images/relay/relay.py")).unwrap();
    let bad = relay.replace(r#"TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "5"))"#, "TIMEOUT = 30.0");
    assert_ne!(bad, relay, "the relay reads CALL_TIMEOUT");
    r.write("images/relay/relay.py", bad);
    r.commit("Simplify the relay's timeout");
    let report = tempfile::tempdir().unwrap();
    let out = r.faultline(&[
        "gate",
        "--base",
        "main",
        "--seed",
        "6",
        "--explore-budget",
        "20s",
        "--report",
        report.path().to_str().unwrap(),
    ]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.path().join("verdict.json")).unwrap()).unwrap();
    assert_eq!(v["plan"]["explore"], serde_json::json!(["api"]), "{v}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("exploration of api found a failure nobody wrote a scenario for"), "{reasons}");
    assert!(v["exploration"][0]["ran"].as_array().is_some_and(|r| !r.is_empty()), "{v}");
}

/// `RELAY` with api's deadline `timeout`, explored by the gate whenever `api/**` changes,
/// and a change committed that writes `relay` as the relay's code (or only touches api).
fn explored_relay(
    timeout: &str,
    classes: &str,
    relay: Option<&dyn Fn(&str) -> String>,
) -> (TestRepo, tempfile::TempDir) {
    let config = only(&RELAY.replace("@T@", timeout), classes) + &policy(PARTIAL);
    gated_relay(&config, relay)
}

/// The gates of [`explored_relay`] and [`explored`] judge other things than the budget
/// within a budget that may cut the catalogue short: a partial exploration is allowed there
/// (by default it is could not verify, `verdict::exploration`'s tests).
const PARTIAL: &str = ", partial_exploration: allow";

/// The policy of [`explored_relay`]: the high tier explores, with `more` keys in its rule.
fn policy(more: &str) -> String {
    format!(
        "policy:\n  tiers: {{ high: [\"api/**\", \"images/**\"] }}\n  gate:\n    high: {{ scenarios: none, explore: true{more} }}\n"
    )
}

/// A relay repository with `config` on main and a change committed that writes `relay` as
/// the relay's code (or only touches api).
fn gated_relay(config: &str, relay: Option<&dyn Fn(&str) -> String>) -> (TestRepo, tempfile::TempDir) {
    gated_relay_with(config, &[], relay)
}

/// `config` explored by the gate whenever `api/**` changes, `files` beside the relay, and
/// a change committed that writes `relay` as the relay's code (or only touches api).
fn explored(
    config: &str,
    files: &[(&str, &str)],
    relay: Option<&dyn Fn(&str) -> String>,
) -> (TestRepo, tempfile::TempDir) {
    gated_relay_with(&(config.to_owned() + &policy(PARTIAL)), files, relay)
}

/// [`gated_relay`] with `files` beside the relay.
fn gated_relay_with(
    config: &str,
    files: &[(&str, &str)],
    relay: Option<&dyn Fn(&str) -> String>,
) -> (TestRepo, tempfile::TempDir) {
    (common::relay_change(config, files, relay), tempfile::tempdir().unwrap())
}

fn gate_report(r: &TestRepo, report: &tempfile::TempDir, budget: &str) -> (Option<i32>, String, serde_json::Value) {
    let out = r.faultline(&[
        "gate",
        "--base",
        "main",
        "--seed",
        "6",
        "--explore-budget",
        budget,
        "--report",
        report.path().to_str().unwrap(),
    ]);
    let v = serde_json::from_slice(&std::fs::read(report.path().join("verdict.json")).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null);
    (out.status.code(), output(&out), v)
}

/// The base is the model: a change that gives up on its dependency sooner answers 502 in a
/// few hundred ms where its base waited and answered 200, under the same slow dependency.
/// The workload tolerates 502, so every absolute oracle passes; compared with the base, the
/// change answers worse, and the gate blocks with both runs in the report.
#[test]
fn the_gate_blocks_a_change_that_answers_worse_than_its_base_under_the_same_fault() {
    let shorter: &dyn Fn(&str) -> String =
        &|code: &str| code.replace(r#"TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "5"))"#, "TIMEOUT = 0.2");
    let (r, report) = explored_relay("1.8", "down, slow-under-deadline", Some(shorter));
    let (code, text, v) = gate_report(&r, &report, "60s");
    assert_eq!(code, Some(1), "{text}");
    let ran = v["exploration"][0]["ran"].as_array().cloned().unwrap_or_default();
    let worse: Vec<&serde_json::Value> = ran.iter().filter(|x| x["compared"]["verdict"] == "worse").collect();
    assert!(!worse.is_empty(), "{v}");
    let x = worse[0];
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    assert_eq!(x["compared"]["pairs"], 2, "a difference counts only when seen twice: {x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    let diff = x["compared"]["differences"].to_string();
    assert!(diff.contains("the base 1 answered in time; this change 1 failed (5xx) in time"), "{diff}");
    // Every absolute oracle of that experiment passed: only the comparison failed it.
    let checks = x["outcome"]["checks"].as_array().unwrap();
    let failed: Vec<&str> =
        checks.iter().filter(|c| c["passed"] == false).map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(failed, ["as good as the base revision under the same fault"], "{x}");
    assert!(x["outcome"]["steps"].as_array().unwrap().iter().all(|s| s["passed"] == true), "{x}");
}

/// A weakness the system already has — no deadline on db, so a slow db makes api answer
/// late — fails on the base as it does on the change: it is reported as known, not blamed on
/// a change that did not touch it, and the change is allowed.
#[test]
fn a_weakness_the_base_shares_is_reported_and_does_not_block() {
    let (r, report) = explored_relay("30", "down, slow-past-deadline", None);
    let (code, text, v) = gate_report(&r, &report, "25s");
    assert_eq!(code, Some(0), "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("known weakness") && reasons.contains("slow-past-deadline on api -> db"), "{reasons}");
    let ran = v["exploration"][0]["ran"].as_array().cloned().unwrap_or_default();
    let weak = ran.iter().find(|x| x["class"] == "slow-past-deadline").expect("ran");
    assert_eq!(weak["outcome"]["status"], "failed", "{weak}");
    assert_eq!(weak["compared"]["verdict"], "known-weakness", "{weak}");
    assert_eq!(weak["compared"]["base"]["status"], "failed", "{weak}");
}

/// The change calls its dependency only on every 3rd request, and waits 30 s for it: the
/// first pass of the workload (one request) never reaches db, so today's exploration, which
/// faults only the edges of that one pass, never faults api -> db and allows the change.
/// The reference runs the workload again, 4 passes in a row, sees db asked in the 3rd, and
/// faults api -> db during 3 passes: the missing deadline is found, and the base (which
/// asks db on every request, with a 1 s deadline) is compared under the same fault.
#[test]
fn an_edge_the_first_pass_left_without_traffic_is_explored_with_more_passes() {
    let every_third: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(r#"os.environ.get("CALL_EVERY", "1")"#, r#"os.environ.get("CALL_EVERY", "3")"#)
            .replace(r#"TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "5"))"#, "TIMEOUT = 30.0")
    };
    let (r, report) = explored_relay("1", "slow-past-deadline", Some(every_third));
    let (code, text, v) = gate_report(&r, &report, "60s");
    assert_eq!(code, Some(1), "{text}");
    let x = &v["exploration"][0];
    assert_eq!(x["reference_passes"], 4, "{x}");
    assert_eq!(x["edges"], serde_json::json!(["api -> db"]), "{x}");
    assert!(x.get("not_exercised").is_none(), "every declared edge carried traffic: {x}");
    let ran = x["ran"].as_array().cloned().unwrap_or_default();
    let e = ran
        .iter()
        .find(|e| e["on"] == "api -> db" && e["class"] == "slow-past-deadline" && e["mode"] == "sequential")
        .unwrap_or_else(|| panic!("a slow db was tried: {x}"));
    assert_eq!(e["outcome"]["status"], "failed", "{e}");
    // Three passes of the one-request workload: db was asked during the experiment.
    assert_eq!(e["outcome"]["steps"].as_array().map(Vec::len), Some(3), "{e}");
    assert!(e["outcome"]["edges"]["api -> db"]["requests"].as_array().is_some_and(|r| !r.is_empty()), "{e}");
    // The differential oracle ran it on the base too.
    assert!(e["compared"]["base"]["status"].is_string(), "{e}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("exploration of api found a failure nobody wrote a scenario for"), "{reasons}");
    assert!(reasons.contains("on api -> db"), "{reasons}");
}

/// The change calls db only on every 100th request: no pass of the workload reaches it, nor
/// any experiment. api -> db is listed as not exercised, with a warning in the verdict's
/// reasons, summary.md and report.html; under `unexercised: unverified` the change could
/// not be verified.
#[test]
fn an_edge_never_exercised_is_listed_and_could_not_verify_under_the_policy() {
    let rarely: &dyn Fn(&str) -> String =
        &|code: &str| code.replace(r#"os.environ.get("CALL_EVERY", "1")"#, r#"os.environ.get("CALL_EVERY", "100")"#);
    let config = only(&RELAY.replace("@T@", "1"), "down, restarted") + &policy(", unexercised: unverified");
    let (r, report) = gated_relay(&config, Some(rarely));
    let (code, text, v) = gate_report(&r, &report, "40s");
    assert_eq!(code, Some(2), "{text}");
    let x = &v["exploration"][0];
    assert_eq!(x["reference_passes"], 4, "{x}");
    assert_eq!(x["not_exercised"][0]["edge"], "api -> db", "{x}");
    assert!(x["not_exercised"][0]["why"].as_str().unwrap_or_default().contains("no traffic in 4 passes"), "{x}");
    assert!(x["ran"].as_array().is_some_and(|r| !r.is_empty()), "the other experiments ran: {x}");
    assert!(x["ran"].as_array().unwrap().iter().all(|e| e["on"] != "api -> db"), "{x}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("1 declared edge not exercised, never faulted (could not verify"), "{reasons}");
    assert_eq!(v["plan"]["gate"]["unexercised"], "unverified", "{v}");
    let summary = std::fs::read_to_string(report.path().join("summary.md")).unwrap();
    assert!(summary.contains("Edges exploration did not exercise") && summary.contains("`api -> db`"), "{summary}");
    let html = std::fs::read_to_string(report.path().join("report.html")).unwrap();
    assert!(html.contains("edges exploration did not exercise") && html.contains("api -&gt; db"), "{html}");
}

/// The same change under the default policy (`unexercised: warn`): allowed, with the
/// warning in its reasons and in `faultline explore`'s own report.
#[test]
fn an_edge_never_exercised_is_a_warning_by_default() {
    let rarely: &dyn Fn(&str) -> String =
        &|code: &str| code.replace(r#"os.environ.get("CALL_EVERY", "1")"#, r#"os.environ.get("CALL_EVERY", "100")"#);
    let (r, report) = explored_relay("1", "down, restarted", Some(rarely));
    let (code, text, v) = gate_report(&r, &report, "40s");
    assert_eq!(code, Some(0), "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("1 declared edge not exercised, never faulted (a warning"), "{reasons}");
    assert!(reasons.contains("api -> db"), "{reasons}");
    assert_eq!(v["exploration"][0]["not_exercised"][0]["edge"], "api -> db", "{v}");
    let out = explore_api(&r, &[]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("warning: edge api -> db not exercised"), "{text}");
}

/// db, and a cache api asks only when db fails (`FALLBACK`); nothing else calls the cache.
const FALLBACK_RELAY: &str = concat!(
    "version: 1\n",
    relay_services!("1"),
    r#"      cache: { env: FALLBACK, url: "http://{host}:{port}" }
  cache:
    paths: ["cache/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: cache }
explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 2s }
"#
);

/// The change waits 30 s for its fallback: the cache carries traffic only while db fails,
/// so today's exploration never faults api -> cache. The experiments that fault db show
/// traffic on api -> cache; its faults are then tried with db down at the same time, and
/// the slow cache makes the change answer late where its base gave up in 1 s.
#[test]
fn a_fallback_edge_is_explored_with_the_fault_that_makes_it_carry_traffic() {
    let patient: &dyn Fn(&str) -> String =
        &|code: &str| code.replace("call(FALLBACK, TIMEOUT)", "call(FALLBACK, 30.0)");
    let config = only(FALLBACK_RELAY, "down, slow-past-deadline") + &policy("");
    let (r, report) = gated_relay(&config, Some(patient));
    let (code, text, v) = gate_report(&r, &report, "300s");
    assert_eq!(code, Some(1), "{text}");
    let x = &v["exploration"][0];
    assert!(x.get("not_exercised").is_none(), "{x}");
    let edges = x["edges"].to_string();
    assert!(edges.contains("api -> cache (while down on api -> db)"), "{edges}");
    let ran = x["ran"].as_array().cloned().unwrap_or_default();
    let with: Vec<&serde_json::Value> = ran.iter().filter(|e| e["on"] == "api -> cache").collect();
    assert!(!with.is_empty(), "{x}");
    assert!(with.iter().all(|e| e["with"] == "down on api -> db"), "{x}");
    let failed = with.iter().find(|e| e["outcome"]["status"] == "failed").expect("a fallback experiment failed");
    assert_eq!(failed["outcome"]["faults"].as_array().map(Vec::len), Some(2), "two faults at once: {failed}");
    assert!(failed["compared"]["base"]["status"].is_string(), "compared with the base: {failed}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("on api -> cache (one at a time, while down on api -> db) failed"), "{reasons}");
}

#[test]
fn declared_edges_of_the_stack_and_experiments_over_several_passes() {
    use faultline::scenario::experiments::{declared_edges, fallback, reference_passes};
    let loaded = shop();
    let w = workload(&loaded, "orders").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    // Every depends_on of the services orders' stack starts, payments' own included.
    let declared = declared_edges(&loaded.config, &r.scenario.stack);
    let names: Vec<String> = declared.iter().map(|(f, t)| format!("{f} -> {t}")).collect();
    assert_eq!(names, ["orders -> payments", "orders -> postgres", "orders -> redis", "payments -> postgres"]);
    // payments' stack is payments and postgres only.
    let p = reference(&workload(&loaded, "payments").unwrap(), &loaded.config).unwrap();
    assert_eq!(declared_edges(&loaded.config, &p.scenario.stack), [("payments".into(), "postgres".into())]);
    // The reference's passes: the workload's steps 4 times, a scenario of its own.
    let again = reference_passes(&w, &loaded.config, 4).unwrap();
    assert_eq!(again.scenario.steps.len(), 4 * w.steps.len());
    assert_ne!(again.name, r.name);
    assert!(again.scenario.faults.is_empty());
    // An edge first used in the 3rd pass is faulted during 3 passes, one at a time or 4 at once.
    let mut late = edge("orders", "redis", false);
    late.passes = 3;
    let used = [edge("orders", "payments", true), late];
    let x = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &[], 800.0).unwrap();
    let steps = |on: &str, mode: Mode| x.iter().find(|e| e.on == on && e.mode == mode).unwrap().scenario.steps.len();
    assert_eq!(steps("orders -> redis", Mode::Sequential), 3 * w.steps.len());
    assert_eq!(steps("orders -> redis", Mode::Concurrent), 3 * w.steps.len());
    assert_eq!(steps("orders -> payments", Mode::Sequential), w.steps.len());
    assert_eq!(steps("redis", Mode::Sequential), 3 * w.steps.len(), "redis paused while it is used");
    // A fallback: each class of the edge, with the trigger's fault and steps, two faults.
    let trigger = x.iter().find(|e| e.on == "orders -> payments" && e.class == "down").unwrap();
    let f = fallback(&w, &loaded.config, &edge("payments", "postgres", false), trigger).unwrap();
    assert_eq!(
        f.iter().map(|e| e.class.as_str()).collect::<Vec<_>>(),
        ["down", "unresponsive", "slow-under-deadline", "reset-mid-response"]
    );
    for e in &f {
        assert_eq!(e.scenario.faults.len(), 2, "{}", e.text);
        assert_eq!(e.with.as_deref(), Some("down on orders -> payments"));
        assert_eq!((e.mode, e.steps.clone()), (trigger.mode, trigger.steps.clone()));
        assert!(!x.iter().any(|o| o.name == e.name), "a name of its own: {}", e.name);
    }
}

/// `config` (a `RELAY`) whose api declares `liveness` and `readiness`, and db `liveness`.
fn with_health(config: &str) -> String {
    let api = "    env: { SERVICE_NAME: api";
    let db = "    env: { SERVICE_NAME: db }";
    assert!(config.contains(api) && config.contains(db));
    config
        .replace(api, &format!("    liveness: {{ http: /live }}\n    readiness: {{ http: /ready }}\n{api}"))
        .replace(db, &format!("    liveness: {{ http: /live }}\n{db}"))
}

/// `config` (a `RELAY`) whose api keeps a reservation in Redis for each call, released a
/// second after it answered, and the invariant that none is left once the system settled.
fn with_state(config: &str) -> String {
    let edge = "      db: { env: DB_URL, url: \"http://{host}:{port}\" }\n";
    let env = "    env: { SERVICE_NAME: api, ";
    assert!(config.contains(edge) && config.contains(env) && config.ends_with("within: 2s }\n"));
    config
        .replace(edge, &format!("{edge}      redis: {{ env: STATE_ADDR }}\n"))
        .replace(env, &format!("{env}RELEASE_DELAY: \"1\", "))
        .replace(
            "explore:\n",
            "  redis:\n    build: images/redis\n    ports: [6379]\n    ready: { tcp: 6379 }\nexplore:\n",
        )
        + "  invariants:\n    - redis: { service: redis, command: [SCARD, pending] }\n      expect: \"0\"\n      settled: true\n"
}

/// The fixture's Redis image, for a relay repository.
/// The experiments that ran and the checks of each, from a gate's verdict.json.
fn ran(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["exploration"][0]["ran"].as_array().cloned().unwrap_or_default()
}

/// The first experiment with a check whose name starts with `check` and that `passed` (or
/// not), and that check.
fn with_check(ran: &[serde_json::Value], check: &str, passed: bool) -> Option<(serde_json::Value, serde_json::Value)> {
    ran.iter().find_map(|x| {
        let c = x["outcome"]["checks"].as_array()?.iter().find(|c| {
            c["check"].as_str().is_some_and(|n| n.starts_with(check)) && c["passed"] == serde_json::json!(passed)
        })?;
        Some((x.clone(), c.clone()))
    })
}

#[test]
fn experiments_probe_liveness_check_readiness_and_let_state_settle() {
    let text = with_state(&with_health(&RELAY.replace("@T@", "1")));
    let origin = ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    let loaded = faultline::config::parse_bytes("faultline.yaml", text.into_bytes(), origin).unwrap();
    let w = workload(&loaded, "api").unwrap();
    let r = reference(&w, &loaded.config).unwrap();
    let used = [edge("api", "db", true), edge("api", "redis", false)];
    let x = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &["api".into()], 300.0).unwrap();
    let probed = |e: &faultline::scenario::experiments::Experiment| -> Vec<String> {
        e.scenario.probes.iter().map(|p| p.line.to_string()).collect()
    };
    for e in std::iter::once(&r).chain(&x) {
        // The invariant waits for the system to settle: three times the workload's deadline.
        let settled: Vec<_> = e.scenario.settle.iter().flatten().collect();
        assert_eq!(settled, [&std::time::Duration::from_secs(6)], "{}", e.name);
        assert!(e.text.contains("settled: true") && e.text.contains("within: 6000ms"), "{}", e.text);
        // Readiness must come back after the faults.
        let checks: Vec<String> = e.scenario.checks.iter().map(|c| format!("{c:?}")).collect();
        assert!(checks.iter().any(|c| c.contains("Recovers") && c.contains("/ready")), "{}: {checks:?}", e.name);
        // Liveness probed on every service that declares it but one the fault itself stops.
        let want: Vec<&str> = match (e.class.as_str(), e.on.as_str()) {
            ("paused" | "restarted", "db") => vec!["GET api /live"],
            ("restarted", "api") | ("lifecycle-start-while-down", _) => vec!["GET db /live"],
            _ => vec!["GET api /live", "GET db /live"],
        };
        assert_eq!(probed(e), want, "{}", e.name);
    }
    assert!(x.iter().any(|e| e.class == "paused" && e.on == "db"));
    assert!(x.iter().any(|e| e.class == "restarted" && e.on == "api"));
}

/// Liveness stays independent of dependencies: a change whose liveness endpoint asks the
/// dependencies answers 503 there while db is down. The workload and every other oracle
/// pass (api answers 502, as it may); the probe of `/live` during the fault fails, says when
/// and what it answered, and the base's liveness held under the same fault.
#[test]
fn the_gate_blocks_a_change_whose_liveness_fails_while_a_dependency_is_faulted() {
    let asks_deps: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(r#"LIVE_CHECKS_DEPS = os.environ.get("LIVE_CHECKS_DEPS") == "1""#, "LIVE_CHECKS_DEPS = True")
    };
    let (r, report) = explored(&only(&with_health(&RELAY.replace("@T@", "1")), "down"), &[], Some(asks_deps));
    let (code, text, v) = gate_report(&r, &report, "40s");
    assert_eq!(code, Some(1), "{text}");
    let ran = ran(&v);
    let (x, live) = with_check(&ran, "GET api /live answers 2xx", false).unwrap_or_else(|| panic!("{v}"));
    let observed = live["observed"].as_str().unwrap_or_default();
    assert!(observed.contains("probes failed: at ") && observed.contains("was in place"), "{live}");
    assert!(observed.contains("503") || observed.contains("no answer within"), "{live}");
    assert_eq!(x["on"], "api -> db", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    assert!(x["outcome"]["steps"].as_array().unwrap().iter().all(|s| s["passed"] == true), "{x}");
}

/// State settles: a change that releases a call's reservation only when its dependencies
/// answered leaves one behind for every call a fault failed. Right after the fault a
/// reservation may still be pending on a correct relay too (it releases a second later), so
/// the invariant is `settled: true`; on the change it never settles.
#[test]
fn the_gate_blocks_a_change_that_leaves_state_pending_after_a_fault() {
    let leaks: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(
            "        if token:\n            release_later(token)  # whatever the dependencies answered",
            "        if token and status == 200:\n            release_later(token)",
        )
    };
    let redis = redis_image();
    let config = with_state(&only(&RELAY.replace("@T@", "1"), "down"));
    let (r, report) = explored(&config, &[(redis.0, &redis.1)], Some(leaks));
    let (code, text, v) = gate_report(&r, &report, "60s");
    assert_eq!(code, Some(1), "{text}");
    let ran = ran(&v);
    let (x, settled) =
        with_check(&ran, "redis on redis: SCARD pending once settled", false).unwrap_or_else(|| panic!("{v}"));
    assert!(settled["observed"].as_str().is_some_and(|o| o.contains("still after")), "{settled}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
}

/// The correct relay passes both: its liveness answers while db is down, its readiness comes
/// back after, and its reservations, released a second after each call, settle to none.
#[test]
fn the_gate_passes_a_system_whose_liveness_holds_and_whose_state_settles() {
    let redis = redis_image();
    let config = with_state(&with_health(&RELAY.replace("@T@", "1")));
    let config = only(&config, "down, errors-first, reset-first, paused, restarted");
    let (r, report) = explored(&config, &[(redis.0, &redis.1)], None);
    let (code, text, v) = gate_report(&r, &report, "40s");
    assert_eq!(code, Some(0), "{text}");
    let ran = ran(&v);
    let down = ran
        .iter()
        .find(|x| x["class"] == "down" && x["on"] == "api -> db" && x["mode"] == "sequential")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(down["outcome"]["status"], "passed", "{down}");
    let checks = down["outcome"]["checks"].as_array().unwrap();
    let named = |prefix: &str| {
        checks
            .iter()
            .find(|c| c["check"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no check {prefix}: {down}"))
    };
    for c in [
        named("GET api /live answers 2xx"),
        named("GET db /live answers 2xx"),
        named("GET api /ready recovers"),
        named("redis on redis: SCARD pending once settled"),
    ] {
        assert_eq!(c["passed"], true, "{c}");
    }
    assert!(named("GET api /live").to_string().contains("all 2xx"), "{down}");
    // Nothing failed anywhere, on either side.
    assert!(with_check(&ran, "", false).is_none(), "{v}");
}

/// The names of an exploration's experiments: (ran, skipped, unexplored).
fn experiment_names(x: &serde_json::Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let names = |v: &serde_json::Value, f: &dyn Fn(&serde_json::Value) -> Option<String>| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(f).collect()).unwrap_or_default()
    };
    (
        names(&x["ran"], &|r| r["outcome"]["name"].as_str().map(str::to_owned)),
        names(&x["skipped"], &|s| s[0].as_str().map(str::to_owned)),
        names(&x["unexplored"], &|s| s.as_str().map(str::to_owned)),
    )
}

/// `--partition` splits the experiments themselves, not whole services: the one explored
/// service's catalogue in 3 shards, each running its share, recombined by `report merge`,
/// gives the verdict and the experiments of the same exploration unsharded.
#[test]
fn sharded_exploration_runs_the_same_experiments_and_gives_the_same_verdict() {
    let (r, report) =
        explored_relay("1", "down, slow-under-deadline, errors-first, errors-first-502, reset-first, saturation", None);
    let (code, text, whole) = gate_report(&r, &report, "120s");
    assert_eq!(code, Some(0), "{text}");
    let all = experiment_names(&whole["exploration"][0]);
    assert!(all.0.len() >= 6, "{all:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    let mut ran_in_shards = 0;
    for k in 1..=3 {
        let dir = tmp.path().join(format!("shard-{k}"));
        let share = format!("{k}/3");
        let out = r.faultline(&[
            "gate",
            "--base",
            "main",
            "--seed",
            "6",
            "--explore-budget",
            "120s",
            "--partition",
            &share,
            "--report",
            dir.to_str().unwrap(),
        ]);
        let text = output(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("verdict.json")).unwrap()).unwrap();
        let x = &v["exploration"][0];
        assert_eq!(x["share"]["split"], "experiments", "{x}");
        assert_eq!(x["share"]["partition"]["index"], k, "{x}");
        let part = experiment_names(x);
        assert!(part.0.len() < all.0.len(), "shard {share} ran only its share: {part:?}");
        ran_in_shards += part.0.len();
        dirs.push(dir);
    }
    assert_eq!(ran_in_shards, all.0.len(), "each experiment ran in exactly one shard");
    let merged_dir = tmp.path().join("merged");
    let mut args = vec!["report", "merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", merged_dir.to_str().unwrap()]);
    let out = r.faultline(&args);
    let text = output(&out);
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged_dir.join("verdict.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(merged["decision"], whole["decision"], "{text}");
    assert_eq!(out.status.code(), code, "{text}");
    assert_eq!(experiment_names(&merged["exploration"][0]), all, "{text}");
    // A shard's part missing: the merge cannot vouch for its experiments.
    let partial = tmp.path().join("partial");
    let mut args = vec!["report", "merge"];
    args.extend(dirs[..2].iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", partial.to_str().unwrap()]);
    let out = r.faultline(&args);
    assert_eq!(out.status.code(), Some(2), "{}", output(&out));
}

/// The change cannot choose its own catalogue: `explore.classes` (like every key of
/// faultline.yaml) is read from the base. A change that narrows it in its own faultline.yaml
/// to the one class it survives is still explored with every class the base lists (and, a
/// change to the gate's own configuration, it needs a senior's sign-off besides).
#[test]
fn a_change_that_narrows_its_own_explore_classes_is_explored_with_the_bases() {
    let config = only(&RELAY.replace("@T@", "1"), "down, slow-past-deadline") + &policy(PARTIAL);
    let (r, report) = gated_relay(&config, None);
    let narrowed = config.replace("classes: [down, slow-past-deadline]", "classes: [down]");
    assert_ne!(narrowed, config);
    r.write("faultline.yaml", narrowed);
    r.commit("explore only what passes");
    let (code, text, v) = gate_report(&r, &report, "60s");
    assert_eq!(code, Some(1), "{text}");
    assert!(v["reasons"].to_string().contains("sign-off is required and missing"), "{text}");
    let classes: std::collections::BTreeSet<String> =
        ran(&v).iter().filter_map(|x| x["class"].as_str().map(str::to_owned)).collect();
    assert!(classes.contains("slow-past-deadline"), "the base's classes ran: {classes:?}\n{text}");
    assert_eq!(v["plan"]["config"]["rev"], "main", "{v}");
}
