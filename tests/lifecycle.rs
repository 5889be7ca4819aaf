//! Issue 24's fault class "the service's own lifecycle" through the binary on the relay
//! fixture: the service under test is started again while a dependency is unreachable,
//! then the dependency comes back, and the service must serve again. A bug it catches (a
//! client whose first connection failed, kept for good), and the correct relay passing.
//! These tests start containers.

mod common;

use common::TestRepo;

/// [`common::explore_gate`] with no other argument.
fn gate(r: &TestRepo, budget: &str) -> (Option<i32>, String, serde_json::Value) {
    common::explore_gate(r, budget, &[])
}

/// api keeps a counter in Redis (`POST /count`, `GET /count`, 502 while Redis fails); the
/// gate explores api whenever `api/**` or the images change.
const COUNTER: &str = r#"version: 1
services:
  api:
    paths: ["api/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api }
    depends_on:
      redis: { env: STATE_ADDR }
  redis:
    build: images/redis
    ports: [6379]
    ready: { tcp: 6379 }
explore:
  classes: [down, restarted, lifecycle-start-while-down]
  workloads:
    api:
      - request: POST api /count
        expect: { status: [200, 502], within: 2s }
      - request: GET api /count
        expect: { status: [200, 502], within: 2s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#;

/// The relay's code with a Redis client made once at start: when Redis does not answer
/// then, every later count fails (502) for as long as the process lives, even once Redis
/// is back. It serves as before whenever it started with Redis up.
fn client_made_once(code: &str) -> String {
    code.replace(
        "def redis_value(*args):",
        r#"NO_STATE = []  # Redis did not answer at start: the client is never made again


def redis_value(*args):
    if NO_STATE:
        raise ConnectionError("no connection to Redis since start")
    return connected_value(*args)


def connected_value(*args):"#,
    )
    .replace(
        "        release_later(None, delay=0)  # what a previous run reserved is released\n",
        r#"        release_later(None, delay=0)  # what a previous run reserved is released
        try:
            redis("PING")
        except Exception:
            NO_STATE.append(True)
"#,
    )
}

/// The relay's code exiting at start when Redis does not answer then (as a service that
/// connects to its database before it listens, and gives up).
fn exits_without_state(code: &str) -> String {
    code.replace(
        "        release_later(None, delay=0)  # what a previous run reserved is released\n",
        r#"        release_later(None, delay=0)  # what a previous run reserved is released
        try:
            redis("PING")
        except Exception as e:
            print(f"NO_STATE: cannot reach Redis at start: {e}", flush=True)
            raise SystemExit(1)
"#,
    )
}

/// A relay repository with [`COUNTER`] on main, the fixture's Redis image, and a change
/// committed that rewrites the relay's code with `change` (or only touches api).
fn repo(change: Option<fn(&str) -> String>) -> TestRepo {
    let redis = common::redis_image();
    let change = change.as_ref().map(|f| f as &dyn Fn(&str) -> String);
    common::relay_change(COUNTER, &[(redis.0, &redis.1)], change)
}

/// The lifecycle experiment on api -> redis, from a gate's verdict.json.
fn lifecycle(v: &serde_json::Value) -> Option<serde_json::Value> {
    v["exploration"][0]["ran"]
        .as_array()?
        .iter()
        .find(|x| x["class"] == "lifecycle-start-while-down" && x["on"] == "api -> redis")
        .cloned()
}

/// A change that makes its Redis client once, at start, blocks: started while Redis is
/// unreachable, it never serves a count again after Redis is back, where its base does.
/// Every other experiment (Redis down, Redis restarted, api restarted with Redis up) leaves
/// it serving.
#[test]
fn the_gate_blocks_a_change_that_never_reconnects_after_starting_without_its_dependency() {
    let r = repo(Some(client_made_once));
    let (code, text, v) = gate(&r, "150s");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("explore-api-api-redis-lifecycle-start-while-down-seq"), "named in the output: {text}");
    let x = lifecycle(&v).unwrap_or_else(|| panic!("{v}"));
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    let recovery = x["outcome"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().is_some_and(|n| n.contains("recovers")) && c["passed"] == false)
        .cloned()
        .unwrap_or_else(|| panic!("the recovery check fails: {x}"));
    assert!(recovery["check"].as_str().unwrap().contains("POST api /count"), "{recovery}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    // Only the lifecycle finds it: the experiments before it passed.
    let ran = v["exploration"][0]["ran"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = ran.iter().filter(|x| x["outcome"]["status"] != "passed").collect();
    assert!(failed.iter().all(|x| x["class"] == "lifecycle-start-while-down"), "{v}");
}

/// A change that exits at start when Redis is unreachable blocks: started again while Redis
/// is down, its process ends, and nothing serves once Redis is back, where its base does.
#[test]
fn the_gate_blocks_a_change_that_exits_when_started_without_its_dependency() {
    let r = repo(Some(exits_without_state));
    let (code, text, v) = gate(&r, "150s");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("explore-api-api-redis-lifecycle-start-while-down-seq"), "named in the output: {text}");
    let x = lifecycle(&v).unwrap_or_else(|| panic!("{v}"));
    assert_eq!(x["outcome"]["status"], "failed", "not an error of the gate: {x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    // Started again by the engine, it exited by itself: a failed check of the service, with
    // its exit code and its own last words, besides the recovery it never made.
    let checks = x["outcome"]["checks"].as_array().unwrap();
    let exited = checks
        .iter()
        .find(|c| c["check"] == "`api` runs again once started after its fault")
        .unwrap_or_else(|| panic!("{x}"));
    assert_eq!(exited["passed"], false, "{exited}");
    let observed = exited["observed"].as_str().unwrap_or_default();
    assert!(observed.contains("code 1") && observed.contains("cannot reach Redis at start"), "{exited}");
}

/// The correct relay asks Redis afresh for every count: started while Redis is unreachable,
/// it answers 502 until Redis is back, then counts again; the lifecycle experiment passes
/// on both sides and the gate allows.
#[test]
fn the_gate_passes_a_service_that_serves_again_once_its_dependency_is_back() {
    let r = repo(None);
    let (code, text, v) = gate(&r, "150s");
    assert_eq!(code, Some(0), "{text}");
    let x = lifecycle(&v).unwrap_or_else(|| panic!("the lifecycle experiment ran: {v}"));
    assert_eq!(x["outcome"]["status"], "passed", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    let faults = x["outcome"]["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "the edge refused, api killed and started again: {x}");
}
