//! The `load` and `nextest` steps end to end, on the real engine with the relay fixture:
//! a load's percentile bound holds on a healthy edge and fails on a slow one; the
//! repository's own tests run against the stack and fail while its database is paused; a
//! `nextest` step that cannot run is "could not verify" before anything starts.

mod common;

use common::TestRepo;
use serde_json::Value;

const CONFIG: &str = r#"version: 1
services:
  db:
    paths: ["db/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: db }
  api:
    paths: ["api/**", "src/**", "tests/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api, CALL_TIMEOUT: "1" }
    depends_on:
      db: { env: DB_URL, url: "http://{host}:{port}" }
global: ["images/**"]
policy:
  tiers:
    high: ["**"]
  gate:
    high: { scenarios: all }
"#;

/// A cargo package whose own test calls the api of the stack through
/// `FAULTLINE_API_ADDR`, with nothing but std.
const LIVE_TEST: &str = r#"
use std::io::{Read, Write};

#[test]
fn api_answers_200() {
    let addr = std::env::var("FAULTLINE_API_ADDR").expect("run by faultline");
    println!("calling the api at {addr}");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /call HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{}", reply.lines().next().unwrap_or(""));
}

#[test]
fn unrelated() {}
"#;

fn repo(scenarios: &[(&str, &str)], cargo: bool) -> TestRepo {
    let mut files = vec![("api/main.txt", "api v1\n")];
    if cargo {
        files.extend([
            ("Cargo.toml", "[package]\nname = \"apitests\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"),
            ("src/lib.rs", ""),
            ("tests/live.rs", LIVE_TEST),
            (".gitignore", "target/\n"),
        ]);
    }
    let r = TestRepo::relay(CONFIG, scenarios, &files);
    r.write("api/main.txt", "api v2\n");
    r.commit("change the api");
    r
}

fn gate(r: &TestRepo) -> (i32, Value, String) {
    r.with_report(&["gate", "--base", "main", "--seed", "5"], &[])
}

fn scenario<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn a_load_meets_its_bounds_on_a_healthy_edge_and_not_on_a_slow_one() {
    let load = |name: &str, fault: &str| {
        format!(
            "name: {name}\ntarget: api\nwhy: api answers fast under load.\n{fault}steps:\n  - load: GET api /call\n    rate: 20/s\n    for: 2s\n    expect: {{ status: [200], error_rate: 5%, p90: 250ms }}\n"
        )
    };
    let healthy = load("healthy", "");
    let slow = load("slow", "faults:\n  - on: api -> db\n    latency: 400ms\n");
    let r = repo(&[("healthy", &healthy), ("slow", &slow)], false);
    let (code, v, text) = gate(&r);
    assert_eq!(code, 1, "{text}");
    let ok = &scenario(&v, "healthy")["steps"][0];
    assert_eq!(ok["passed"], true, "{ok}");
    let observed = ok["observed"].as_str().unwrap();
    assert!(observed.starts_with("40 sent at "), "open loop: 20/s for 2 s is 40 requests: {observed}");
    assert!(observed.contains("40× 200"), "{observed}");
    let bad = &scenario(&v, "slow")["steps"][0];
    assert_eq!(bad["passed"], false, "{bad}");
    assert!(bad["expected"].as_str().unwrap().contains("p90 ≤ 250ms"), "{bad}");
    let p90: f64 =
        bad["observed"].as_str().unwrap().split(", p90 ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(p90 >= 400.0, "every reply of db is 400 ms late: {bad}");
}

#[test]
fn the_repositorys_own_tests_run_against_the_stack_with_the_faults_on() {
    let filter = "nextest:\n      filter: \"binary(live) and test(api_answers)\"\n";
    let healthy = format!("name: healthy\ntarget: api\nwhy: the api contract holds.\nsteps:\n  - {filter}");
    let paused = format!(
        "name: paused\ntarget: api\nwhy: the api contract holds while db stalls.\nfaults:\n  - on: db\n    pause: true\nsteps:\n  - {filter}"
    );
    let r = repo(&[("healthy", &healthy), ("paused", &paused)], true);
    let (code, v, text) = gate(&r);
    assert_eq!(code, 1, "{text}");
    let ok = &scenario(&v, "healthy")["steps"][0];
    assert_eq!(ok["passed"], true, "{ok}");
    assert_eq!(ok["observed"], "1 passed, 0 failed", "only the filterset's test ran: {ok}");
    let bad = &scenario(&v, "paused")["steps"][0];
    assert_eq!(bad["passed"], false, "{bad}");
    let observed = bad["observed"].as_str().unwrap();
    assert!(observed.starts_with("0 passed, 1 failed; apitests::live::api_answers_200: thread"), "{observed}");
    // Past the panic's first line: the failed test's own output.
    let (_, said) = observed.split_once("\n\n--- apitests::live::api_answers_200 ---\n").expect(observed);
    assert!(said.contains("calling the api at 127.0.0.1:"), "{said}");
}

#[test]
fn a_nextest_step_that_cannot_run_is_unverified_before_anything_starts() {
    let step =
        |filter: &str| format!("name: t\ntarget: api\nwhy: w\nsteps:\n  - nextest: {{ filter: \"{filter}\" }}\n");
    // Not a cargo workspace.
    let r = repo(&[("t", &step("test(x)"))], false);
    let (code, v, text) = gate(&r);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("has no Cargo.toml"), "{text}");
    assert_eq!(v["scenarios"].as_array().map_or(0, Vec::len), 0, "nothing ran: {v}");
    // A filterset that selects nothing would pass without testing anything.
    let r = repo(&[("t", &step("test(no_such_test)"))], true);
    let (code, _, text) = gate(&r);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("the filterset `test(no_such_test)` selects no test"), "{text}");
    // A filterset nextest cannot parse.
    let r = repo(&[("t", &step("test(("))], true);
    let (code, _, text) = gate(&r);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cargo nextest list -E 'test((' failed"), "{text}");
}

/// A value a step was to capture and did not find fails that step: later steps would send
/// `{NAME}` as it is, and pass or fail by accident.
#[test]
fn a_capture_that_finds_nothing_fails_its_step() {
    let capture = "name: capture\ntarget: api\nwhy: the id of what was made is read back.\nsteps:\n  - request: GET api /health\n    capture: { id: \"json:/no/such/field\" }\n  - request: GET api /health?id={id}\n";
    let r = repo(&[("capture", capture)], false);
    let (code, v, text) = gate(&r);
    assert_eq!(code, 1, "{text}");
    let step = &scenario(&v, "capture")["steps"][0];
    assert_eq!(step["passed"], false, "{step}");
    assert!(step["observed"].as_str().unwrap().contains("nothing to capture as id"), "{step}");
}
