//! Scenario files against the shop's configuration: every bad input is a located error that
//! names what is valid, before anything starts; templates fill in and locate mistakes in the
//! user's file. Pure logic: no Docker.

use faultline::config::{Config, ConfigError, ConfigOrigin, FileDiagnostic, SourceFile};
use faultline::scenario::template;
use faultline::scenario::validate::{CheckKind, FaultTarget, StepKind};

fn shop() -> Config {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/faultline.yaml")).unwrap();
    let origin = ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    faultline::config::parse(SourceFile::new("faultline.yaml", text), origin).unwrap().config
}

fn problems(text: &str) -> Vec<FileDiagnostic> {
    match faultline::scenario::parse("scenarios/s.yaml", text.into(), &shop()) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("{e}"),
    }
}

/// The only problem, as `file:line:column: message (help)`.
fn problem(text: &str) -> String {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    format!("{}:{}:{}: {} ({})", p[0].file, p[0].line, p[0].column, p[0].message, p[0].help.clone().unwrap_or_default())
}

const HEAD: &str = "target: orders\nwhy: because\n";

#[test]
fn an_unknown_service_names_the_valid_ones() {
    let e = problem(&format!("{HEAD}faults:\n  - on: paymnts\n    pause: true\n"));
    assert!(e.starts_with("scenarios/s.yaml:4:9: `paymnts` is not a service"), "{e}");
    assert!(e.contains("did you mean `payments`?"), "{e}");
}

#[test]
fn an_unknown_edge_names_the_edges_of_the_stack() {
    let e = problem(&format!("{HEAD}faults:\n  - on: payments -> redis\n    latency: 1s\n"));
    assert!(e.starts_with("scenarios/s.yaml:4:9: `payments -> redis` is not an edge"), "{e}");
    assert!(e.contains("orders -> redis"), "{e}");
}

#[test]
fn an_unknown_fault_kind_is_located_with_the_nearest_key() {
    let e = problem(&format!("{HEAD}faults:\n  - on: orders -> payments\n    latncy: 1s\n"));
    assert!(e.starts_with("scenarios/s.yaml:5:5:") && e.contains("unknown field `latncy`"), "{e}");
    assert!(e.contains("did you mean `latency`?"), "{e}");
}

#[test]
fn an_unknown_check_kind_is_located_with_the_nearest_key() {
    let e = problem(&format!("{HEAD}checks:\n  - sqll: {{ service: postgres, query: SELECT 1 }}\n"));
    assert!(e.starts_with("scenarios/s.yaml:4:5:") && e.contains("did you mean `sql`?"), "{e}");
}

#[test]
fn a_duration_typo_points_at_the_value() {
    let e = problem(&format!("{HEAD}faults:\n  - on: orders -> payments\n    latency: 3ss\n"));
    assert!(e.starts_with("scenarios/s.yaml:5:14:") && e.contains("`3ss` is not a duration"), "{e}");
}

#[test]
fn a_step_against_a_service_outside_the_stack_is_refused() {
    let text = "target: payments\nwhy: because\nsteps:\n  - request: POST orders /orders\n";
    let e = problem(text);
    assert!(e.starts_with("scenarios/s.yaml:4:14: `orders` is not in this scenario's stack"), "{e}");
    assert!(e.contains("payments") && e.contains("postgres"), "{e}");
}

#[test]
fn a_sql_check_on_a_service_that_is_no_database_is_refused() {
    let e = problem(&format!("{HEAD}checks:\n  - sql: {{ service: redis, query: SELECT 1 }}\n    expect_rows: 0\n"));
    assert!(e.starts_with("scenarios/s.yaml:4:21: `redis` is not a PostgreSQL service"), "{e}");
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let p = problems(&format!(
        "{HEAD}faults:\n  - on: nowhere\n    pause: true\nsteps:\n  - request: FETCH orders /x\nchecks:\n  - logs: {{ service: orders }}\n"
    ));
    let lines: Vec<usize> = p.iter().map(|d| d.line).collect();
    assert_eq!(lines, [4, 7, 9], "{p:#?}");
}

#[test]
fn every_builtin_template_parses_and_fills_in() {
    let names: Vec<&str> = template::builtin().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["database-paused", "dependency-down", "dependency-flaky", "dependency-slow", "response-lost-after-commit"]
    );
    for t in template::builtin() {
        assert!(!t.description.is_empty() && t.params.values().all(|p| !p.doc.is_empty()), "{}", t.name);
    }
}

#[test]
fn a_template_fills_in_and_the_file_adds_its_own_checks() {
    let text = "use: dependency-slow\nwith:\n  client: orders\n  dependency: payments\n  latency: 2s\n  request: POST orders /orders\n  body: { sku: \"A{n}\" }\n  status: [201, 503]\n  within: 2500ms\nchecks:\n  - on: orders -> payments\n    max_attempts_per_request: 3\n";
    let s = faultline::scenario::parse("scenarios/slow.yaml", text.into(), &shop()).unwrap();
    assert_eq!((s.name.as_str(), s.target.as_str()), ("slow", "orders"));
    assert!(s.why.contains("payments gets slow (2s per reply)"), "{}", s.why);
    match &s.faults[0].target {
        FaultTarget::Edge { from, to, .. } => assert_eq!((from.as_str(), to.as_str()), ("orders", "payments")),
        other => panic!("{other:?}"),
    }
    match &s.steps[0] {
        StepKind::Request(faultline::scenario::validate::RequestStep { body, expect, repeat, .. }) => {
            let Some(faultline::scenario::validate::Body::Json(body)) = body else { panic!("{body:?}") };
            assert_eq!(body["sku"], "A{n}");
            assert_eq!(expect.status.as_deref(), Some(&[201, 503][..]));
            assert_eq!(*repeat, 3, "the template's default");
            assert_eq!(expect.within, Some(std::time::Duration::from_millis(2500)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.checks[0], CheckKind::Logs { .. }), "the template's check first");
    assert!(matches!(s.checks[1], CheckKind::MaxAttempts { max: 3, .. }), "then the file's");
    // Annotations point at the file: the template's check at `use:`, the file's own at its line.
    assert_eq!(s.check_lines, [1, 11]);
}

#[test]
fn the_shop_scenarios_use_templates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/scenarios");
    let config = shop();
    let mut using = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        using += usize::from(text.contains("\nuse: "));
        let name = format!("scenarios/{}", path.file_name().unwrap().to_string_lossy());
        faultline::scenario::parse(&name, text, &config).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    assert_eq!(using, 6, "every shop scenario but last-item-race and postgres-restart");
}

#[test]
fn a_load_step_reads_rates_shares_and_percentiles() {
    let text = format!(
        "{HEAD}steps:\n  - load: POST orders /orders\n    rate: 3000/min\n    for: 10s\n    expect: {{ status: [201], error_rate: 2%, p99: 300ms, p50: 50ms }}\n"
    );
    let s = faultline::scenario::parse("s.yaml", text, &shop()).unwrap();
    match &s.steps[0] {
        StepKind::Load { rate, duration, expect, .. } => {
            assert_eq!(*rate, 50.0);
            assert_eq!(*duration, std::time::Duration::from_secs(10));
            assert_eq!(expect.error_rate, 0.02);
            let ms = std::time::Duration::from_millis;
            assert_eq!(expect.percentiles, [(50, ms(50)), (99, ms(300))]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_mistakes_are_located() {
    let step = |rest: &str| format!("{HEAD}steps:\n  - load: GET orders /stock/A1\n{rest}");
    let e = problem(&step("    rate: 50/hour\n    for: 1s\n"));
    assert!(
        e.starts_with("s.yaml:5:11: `50/hour` is not a rate")
            || e.starts_with("scenarios/s.yaml:5:11: `50/hour` is not a rate"),
        "{e}"
    );
    let e = problem(&step("    rate: 5\n"));
    assert!(e.contains("a `load` step needs `rate` and `for`"), "{e}");
    let e = problem(&step("    rate: 5\n    for: 1s\n    expect: { error_rate: 5 }\n"));
    assert!(e.contains("5 is more than 1: write a percentage as `5%`"), "{e}");
    let e = problem(&format!("{HEAD}steps:\n  - request: GET orders /stock/A1\n    rate: 5\n"));
    assert!(e.starts_with("scenarios/s.yaml:5:11: `rate` goes with `load`"), "{e}");
    let e = problem(&format!("{HEAD}steps:\n  - nextest: {{ filter: \"\" }}\n"));
    assert!(e.contains("an empty filterset would run every test"), "{e}");
}

const SLOW: &str = "use: dependency-slow\nwith:\n  client: orders\n  dependency: payments\n  request: POST orders /orders\n  status: [201]\n  within: 2s\n";

#[test]
fn an_unknown_template_names_the_nearest() {
    let e = problem(&SLOW.replace("dependency-slow", "dependency-slo"));
    assert!(e.starts_with("scenarios/s.yaml:1:6: `dependency-slo` is not a template"), "{e}");
    assert!(e.contains("did you mean `dependency-slow`?"), "{e}");
}

#[test]
fn an_unknown_parameter_names_the_nearest() {
    let e = problem(&format!("{SLOW}  latncy: 1s\n"));
    assert!(e.starts_with("scenarios/s.yaml:8:3: `latncy` is not a parameter of `dependency-slow`"), "{e}");
    assert!(e.contains("did you mean `latency`?"), "{e}");
}

#[test]
fn a_missing_parameter_says_what_it_is() {
    let e = problem(&SLOW.replace("  within: 2s\n", ""));
    assert!(e.contains("`dependency-slow` needs the parameter `within`: the longest the client may take"), "{e}");
    assert!(e.starts_with("scenarios/s.yaml:2:1:"), "{e}");
}

#[test]
fn a_mistyped_parameter_is_located_in_the_users_file() {
    let e = problem(&format!("{SLOW}  latency: 3ss\n"));
    assert!(e.starts_with("scenarios/s.yaml:8:12:") && e.contains("`3ss` is not a duration"), "{e}");
    let e = problem(&SLOW.replace("dependency: payments", "dependency: paymnts"));
    assert!(e.starts_with("scenarios/s.yaml:4:15: `paymnts` is not a service"), "{e}");
    assert!(e.contains("did you mean `payments`?"), "{e}");
}

#[test]
fn a_problem_in_a_filled_in_value_is_located_at_the_parameter() {
    // payments does not depend on redis: the template's edge is wrong, and the reason is
    // the file's `dependency`... or `client`: both fill `CLIENT -> DEPENDENCY`; the first
    // given is named.
    let e = problem(&SLOW.replace("client: orders", "client: payments").replace("POST orders", "POST payments"));
    assert!(e.starts_with("scenarios/s.yaml:3:11: `payments -> payments` is not an edge"), "{e}");
}

#[test]
fn with_without_use_is_an_error() {
    let e = problem(&format!("{HEAD}with: {{ a: 1 }}\n"));
    assert!(e.contains("`with` gives a template its parameters"), "{e}");
}

#[test]
fn a_scenario_without_target_or_why_says_so() {
    let p = problems("steps: []\n");
    let msgs: Vec<&str> = p.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs, ["a scenario needs `target`", "a scenario needs `why`"]);
}

#[test]
fn no_input_panics() {
    // Odd shapes: each is an error or a scenario, never a panic.
    for text in [
        "",
        "[]",
        "use: 3",
        "use: dependency-slow\nwith: []",
        "use: dependency-slow\nwith: { client: [1] }",
        "use: dependency-slow\nwith: { client: orders, dependency: payments, request: 'a b c', status: [], within: 1s }",
        "target: orders\nwhy: x\nfaults: [{ on: '->' , latency: 1s }]",
        "target: orders\nwhy: x\nsteps: [{ request: '' }]",
        "target: orders\nwhy: x\nchecks: [{}]",
        "target: orders\nwhy: x\nfaults: [{ on: 'orders -> payments', http: { first: 0 } }]",
    ] {
        let _ = faultline::scenario::parse("s.yaml", text.into(), &shop());
    }
}

#[test]
fn faultline_templates_lists_every_template_with_its_parameters() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline")).arg("templates").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for t in template::builtin() {
        assert!(text.contains(&format!("\n{}\n", t.name)) || text.starts_with(&format!("{}\n", t.name)), "{text}");
    }
    assert!(text.contains("max_attempts       int       default 3"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["templates", "dependency-slo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`dependency-slo` is not a template"));
}

#[test]
fn the_longest_scenarios_are_estimated_longest() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/shop/scenarios");
    let config = shop();
    let mut est: Vec<(std::time::Duration, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = format!("scenarios/{}", path.file_name().unwrap().to_string_lossy());
            let s = faultline::scenario::parse(&name, std::fs::read_to_string(&path).unwrap(), &config).unwrap();
            (faultline::runner::estimated(&s), s.name)
        })
        .collect();
    est.sort();
    // payments-slow: three requests of up to 3 s each, one after the other.
    assert_eq!(est.last().unwrap().1, "payments-slow", "{est:?}");
    assert!(est.last().unwrap().0 >= std::time::Duration::from_secs(9), "{est:?}");
}

const FLAKY: &str = "use: dependency-flaky\nwith:\n  client: orders\n  dependency: payments\n  request: POST orders /orders\n  status: [201]\n";

#[test]
fn a_scenario_leaves_out_a_templates_check_and_adds_one_that_fits() {
    // A client whose calls carry no request id: the template's per-request bound cannot be
    // judged, so the scenario drops it and bounds the requests on the edge instead.
    let text = format!(
        "{FLAKY}drop_checks: [max_attempts_per_request]\nchecks:\n  - on: orders -> payments\n    max_requests: 9\n"
    );
    let s = faultline::scenario::parse("scenarios/s.yaml", text, &shop()).unwrap();
    assert_eq!(s.checks.len(), 2, "{:?}", s.checks);
    assert!(matches!(s.checks[0], CheckKind::Logs { .. }), "the template's other check stays");
    assert!(matches!(s.checks[1], CheckKind::MaxRequests { max: 9, .. }), "then the file's");
    assert_eq!(s.check_lines, [1, 9]);
    // Without it, the template's check is there.
    let s = faultline::scenario::parse("scenarios/s.yaml", FLAKY.into(), &shop()).unwrap();
    assert!(s.checks.iter().any(|c| matches!(c, CheckKind::MaxAttempts { .. })));
}

#[test]
fn drop_checks_mistakes_are_located() {
    let e = problem(&format!("{FLAKY}drop_checks: [max_attempt_per_request]\n"));
    assert!(
        e.starts_with("scenarios/s.yaml:7:15: `max_attempt_per_request` is not a kind of check")
            && e.contains("did you mean `max_attempts_per_request`"),
        "{e}"
    );
    let e = problem(&format!("{FLAKY}drop_checks: [sql]\n"));
    assert!(
        e.contains("the template `dependency-flaky` has no `sql` check")
            && e.contains("max_attempts_per_request, logs"),
        "{e}"
    );
    let e = problem(&format!("{HEAD}drop_checks: [logs]\nsteps: [{{ request: GET orders /health }}]\n"));
    assert!(e.contains("`drop_checks` leaves out a template's checks"), "{e}");
}

#[test]
fn max_requests_needs_an_http_edge() {
    let steps = "steps: [{ request: GET orders /health }]\n";
    let e = problem(&format!("{HEAD}{steps}checks: [{{ max_requests: 3 }}]\n"));
    assert!(e.contains("`max_requests` needs `on: CLIENT -> DEPENDENCY`"), "{e}");
    let e = problem(&format!("{HEAD}{steps}checks: [{{ on: orders -> postgres, max_requests: 3 }}]\n"));
    assert!(e.contains("requests are counted on HTTP edges"), "{e}");
    let e = problem(&format!(
        "{HEAD}{steps}checks: [{{ on: orders -> payments, max_requests: 3, max_attempts_per_request: 2 }}]\n"
    ));
    assert!(e.contains("a check needs exactly one of `max_attempts_per_request`, `max_requests`"), "{e}");
}

#[test]
fn a_templates_recovery_probe_takes_headers_and_statuses() {
    let text = "use: dependency-down\nwith:\n  client: orders\n  dependency: payments\n  request: POST orders /orders\n  status: [503]\n  within: 2s\n  probe: GET orders /stock/A1\n  probe_headers: { Cookie: \"session=abc\" }\n  probe_status: [200, 304]\n";
    let s = faultline::scenario::parse("scenarios/s.yaml", text.into(), &shop()).unwrap();
    let Some(CheckKind::Recovers { headers, status, .. }) =
        s.checks.iter().find(|c| matches!(c, CheckKind::Recovers { .. }))
    else {
        panic!("{:?}", s.checks)
    };
    assert_eq!(headers, &[("Cookie".to_owned(), "session=abc".to_owned())]);
    assert_eq!(status.as_deref(), Some(&[200, 304][..]));
    // Left out, the probe needs a 2xx and sends no header.
    let plain = text.lines().filter(|l| !l.contains("probe_")).collect::<Vec<_>>().join("\n");
    let s = faultline::scenario::parse("scenarios/s.yaml", plain, &shop()).unwrap();
    let Some(CheckKind::Recovers { headers, status, .. }) =
        s.checks.iter().find(|c| matches!(c, CheckKind::Recovers { .. }))
    else {
        panic!("{:?}", s.checks)
    };
    assert!(headers.is_empty() && status.is_none(), "{headers:?} {status:?}");
}

#[test]
fn probes_and_settled_checks_are_read_with_their_bounds() {
    let text = format!(
        "{HEAD}steps:\n  - request: GET orders /health\n    expect: {{ within: 2s }}\n\
         checks:\n  - sql: {{ service: postgres, query: \"SELECT 1 WHERE false\" }}\n    expect_rows: 0\n    settled: true\n\
         \x20 - redis: {{ service: redis, command: [SCARD, pending] }}\n    expect: \"0\"\n    settled: true\n    within: 10s\n\
         \x20 - redis: {{ service: redis, command: [GET, x] }}\n    expect: \"1\"\n\
         probes:\n  - request: GET orders /live\n  - request: GET payments /live\n    every: 100ms\n    within: 500ms\n"
    );
    let s = faultline::scenario::parse("scenarios/s.yaml", text, &shop()).unwrap();
    let secs = std::time::Duration::from_secs;
    // Three times the longest `within` of the requests, unless the check says.
    assert_eq!(s.settle, [Some(secs(6)), Some(secs(10)), None]);
    assert_eq!(s.probes.len(), 2);
    assert_eq!((s.probes[0].every, s.probes[0].within), (std::time::Duration::from_millis(250), secs(1)));
    assert_eq!(s.probes[1].line.to_string(), "GET payments /live");
    assert_eq!(s.probe_lines, [17, 18]);
    let explained = faultline::scenario::author::explain(&s, &shop());
    assert!(explained.contains("GET orders /live answers 2xx within 1s while the steps run"), "{explained}");
    assert!(explained.contains("once settled (tried again for up to 10s of quiet)"), "{explained}");
}

#[test]
fn probe_and_settled_mistakes_are_located() {
    let steps = "steps:\n  - request: GET orders /health\n";
    // A probe of no service.
    let e = problem(&format!("{HEAD}{steps}probes:\n  - request: GET ordrs /live\n"));
    assert!(
        e.starts_with("scenarios/s.yaml:6:14: `ordrs` is not a service") && e.contains("did you mean `orders`?"),
        "{e}"
    );
    // A probe sent too often.
    let e = problem(&format!("{HEAD}{steps}probes:\n  - request: GET orders /live\n    every: 1ms\n"));
    assert!(e.starts_with("scenarios/s.yaml:7:12: `every` of a probe is 10ms to 1m"), "{e}");
    // An unknown key of a probe.
    let e = problem(&format!("{HEAD}{steps}probes:\n  - request: GET orders /live\n    evry: 1s\n"));
    assert!(e.starts_with("scenarios/s.yaml:7:5:") && e.contains("did you mean `every`?"), "{e}");
    // `settled` on a check that reads no state.
    let e =
        problem(&format!("{HEAD}{steps}checks:\n  - logs: {{ service: orders, forbid: [x] }}\n    settled: true\n"));
    assert!(e.starts_with("scenarios/s.yaml:7:14: `settled` goes with `sql` or `redis` checks"), "{e}");
    // `within` without `settled`.
    let e = problem(&format!(
        "{HEAD}{steps}checks:\n  - redis: {{ service: redis, command: [GET, x] }}\n    expect: \"1\"\n    within: 3s\n"
    ));
    assert!(e.starts_with("scenarios/s.yaml:8:13: `within` of a check goes with `settled: true`"), "{e}");
    // A key of a check's own given twice.
    let e = problem(&format!(
        "{HEAD}{steps}checks:\n  - redis: {{ service: redis, command: [GET, x] }}\n    expect: \"1\"\n    settled: true\n    settled: true\n"
    ));
    assert!(e.contains("duplicate") && e.contains("settled"), "{e}");
}
