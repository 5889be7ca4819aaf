//! Issue 24's fault class "the service's own lifecycle" through the binary on the relay
//! fixture: the service under test is started again while a dependency is unreachable,
//! then the dependency comes back, and the service must serve again; and it is stopped
//! gracefully while requests it passed on to a dependency wait for their answers. Bugs they
//! catch (a client whose first connection failed, kept for good; an exit at once on
//! SIGTERM), and the correct relay passing.
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

/// api calls db over HTTP on every `/call`; the gate explores api's graceful stop only.
const CALLER: &str = concat!(
    "version: 1\n",
    relay_services!("5"),
    r#"explore:
  classes: [lifecycle-stop-in-flight]
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200], within: 2s }
        under_fault: { status: [200, 502] }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true }
"#
);

/// The stop experiment of a gate's verdict.json.
fn stop_in_flight(v: &serde_json::Value) -> Option<serde_json::Value> {
    common::ran(v).into_iter().find(|x| x["class"] == "lifecycle-stop-in-flight")
}

/// The relay's code exiting at once on SIGTERM, as a handler that "shuts down fast" does:
/// the requests it had already passed on to db are never answered.
fn exits_at_once(code: &str) -> String {
    code.replace(
        "    server = Server(",
        "    import signal\n    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n    server = Server(",
    )
}

/// The relay's code shutting down as it should on SIGTERM: it stops accepting, finishes
/// the requests it holds, then exits.
fn drains(code: &str) -> String {
    code.replace("    daemon_threads = True\n", "    daemon_threads = False\n    block_on_close = True\n").replace(
        "    server.serve_forever()\n",
        r#"    import signal
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()  # joins the threads of the requests in flight
"#,
    )
}

/// A change that exits at once on SIGTERM blocks: stopped while requests it passed on to db
/// wait for their answers, it leaves them unanswered, where its base (a process that
/// finishes what it holds) answers them. The stop lands while they are in flight: db saw
/// them before the service was stopped.
#[test]
fn the_gate_blocks_a_change_that_drops_the_requests_in_flight_when_stopped() {
    let r = common::relay_change(CALLER, &[], Some(&exits_at_once));
    let (code, text, v) = gate(&r, "120s");
    assert_eq!(code, Some(1), "{text}");
    let x = stop_in_flight(&v).unwrap_or_else(|| panic!("the stop experiment ran: {v}"));
    assert_eq!(x["outcome"]["name"], "explore-api-api-db-lifecycle-stop-in-flight-conc", "{x}");
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    // The step sent 4 at once; none was answered.
    let step = x["outcome"]["steps"].as_array().unwrap().iter().find(|s| s["passed"] == false).cloned();
    let step = step.unwrap_or_else(|| panic!("a step fails: {x}"));
    assert_eq!(step["answered"]["none"], 4, "{step}");
    // db had the requests before api was stopped: they were in api's hands.
    let stopped = x["outcome"]["faults"].as_array().unwrap().iter().find(|f| f["on"] == "api").cloned();
    let stopped_ms = stopped.unwrap_or_else(|| panic!("{x}"))["start_ms"].as_f64().unwrap();
    assert!(step["start_ms"].as_f64().unwrap() < stopped_ms, "{x}");
}

/// A service that drains on SIGTERM, and the relay as it is (which goes on serving until it
/// is killed 10 s later), answer every request in flight and serve again once started:
/// the gate allows a change that adds a draining shutdown.
#[test]
fn the_gate_passes_a_change_that_drains_before_it_exits() {
    let r = common::relay_change(CALLER, &[], Some(&drains));
    let (code, text, v) = gate(&r, "120s");
    assert_eq!(code, Some(0), "{text}");
    let x = stop_in_flight(&v).unwrap_or_else(|| panic!("the stop experiment ran: {v}"));
    assert_eq!(x["outcome"]["status"], "passed", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    let step = x["outcome"]["steps"].as_array().unwrap().iter().find(|s| s["answered"]["ok"] == 4).cloned();
    assert!(step.is_some(), "the 4 requests in flight were answered 2xx: {x}");
}
