//! Issue 24's latency magnitudes, through the binary on the relay fixture: each client's own
//! deadline on its edge found black box (the dependency held past the workload's deadline:
//! how long the client waited before it went away) and reported, and the dependency slow at
//! magnitudes of that deadline (half of it, 1.5 times it). A bug only a magnitude catches,
//! and the correct relay passing. These tests start containers.

mod common;

use common::{TestRepo, output, ran};

/// api calls db (a relay) and gives it 1 s (`CALL_TIMEOUT`); the workload's deadline is 6 s.
/// The catalogue's slow dependencies are all past api's own deadline (saturation's 1.5 s,
/// slow-under-deadline's 3 s, slow-past-deadline's 7 s): only the magnitudes hold db within
/// api's patience (0.5 s) and just past it (1.5 s, one request at a time). The gate explores
/// api whenever `api/**` or the images change.
const RELAY: &str = concat!(
    "version: 1\n",
    relay_services!("1"),
    r#"explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 6s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#
);

/// A relay repository with [`RELAY`] on main and a change committed that rewrites the relay's
/// code with `relay` (or only touches api).
fn repo(relay: Option<&dyn Fn(&str) -> String>) -> TestRepo {
    // The slow dependency at every magnitude, and db refused beside them.
    let classes =
        "down, slow-past-deadline, slow-under-deadline, slow-under-client-deadline, slow-past-client-deadline";
    common::relay_change(&common::only(RELAY, classes), &[], relay)
}

/// The experiment of `class` on `api -> db` that ran, one request at a time.
fn experiment(ran: &[serde_json::Value], class: &str) -> serde_json::Value {
    ran.iter()
        .find(|x| x["class"] == class && x["on"] == "api -> db" && x["mode"] == "sequential")
        .cloned()
        .unwrap_or_else(|| panic!("no {class} on api -> db ran: {ran:?}"))
}

/// A deadline as the proxy sees it: from the request's arrival to the client giving up, so
/// up to a scheduling delay shorter than the client's own (a 1 s timeout is seen as 990 ms
/// on a loaded machine), and never longer than db was held.
fn about_the_clients_second(ms: u64) -> bool {
    (900..7000).contains(&ms)
}

/// How the text says a deadline (`report::explore`'s rounding).
fn said(ms: u64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1e3) }
}

/// api's deadline on db as the exploration found it: given up after about the 1 s it
/// gives, well before the 7 s db was held, without retrying.
fn assert_found(report: &serde_json::Value) {
    let d = &report["deadlines"][0];
    assert_eq!(d["edge"], "api -> db", "{report}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["held_ms"], 7000, "{d}");
    let ms = d["deadline_ms"].as_u64().unwrap_or_else(|| panic!("api gave up: {d}"));
    assert!(about_the_clients_second(ms), "{d}");
}

/// A change that gives api's handler a deadline of its own, 300 ms, shorter than the 1 s its
/// client gives db (a request deadline added without lowering the client's timeout under
/// it: inverted timeouts). With db slow but answering within api's client timeout, api
/// answers 502 where its base waited and answered 200, and the call it gave up on still runs
/// on. Every catalogue experiment holds db past api's client timeout, where the base answers
/// 502 too: only the dependency slow under the client's own deadline tells them apart.
#[test]
fn the_gate_blocks_a_handler_deadline_shorter_than_its_clients_timeout() {
    let inverted: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace("calls[var] = call(url)", "calls[var] = call_within(url)").replace(
            "LIVE_CHECKS_DEPS = ",
            r#"HANDLER_DEADLINE = 0.3


def call_within(url):
    """The call, given up by the handler after HANDLER_DEADLINE; the client's own timeout runs on."""
    done = {}

    def run():
        try:
            done["answer"] = call(url)
        except Exception as e:
            done["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANDLER_DEADLINE)
    if "answer" in done:
        return done["answer"]
    raise done.get("error") or TimeoutError("the handler's deadline passed")


LIVE_CHECKS_DEPS = "#,
        )
    };
    let r = repo(Some(inverted));
    let (code, text, v) = common::explore_gate(&r, "600s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let exploration = &v["exploration"][0];
    assert_found(exploration);
    // api's handler answers before its client gives up: the change's run shows no attempt
    // given up on, its base's does.
    assert_eq!(exploration["deadlines"][0]["on_base"], true, "{exploration}");
    let ms = exploration["deadlines"][0]["deadline_ms"].as_u64().unwrap_or_default();
    assert!(text.contains(&format!("deadline: api gives db {}", said(ms))), "{text}");
    let ran = ran(&v);
    let x = experiment(&ran, "slow-under-client-deadline");
    assert_eq!(x["outcome"]["name"], "explore-api-api-db-slow-under-client-deadline-seq", "{x}");
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    // The correct relay (the base) waits for db under its client's deadline and answers 200,
    // the only answer the magnitude accepts where the fault-free run answered 200.
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    assert_eq!(x["outcome"]["steps"][0]["expected"], "status in [200], each within 6s", "{x}");
    let failed: Vec<String> = ran
        .iter()
        .filter(|x| x["outcome"]["status"] == "failed")
        .filter_map(|x| x["outcome"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(failed, ["explore-api-api-db-slow-under-client-deadline-seq"], "only the magnitude finds it: {v}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("slow-under-client-deadline on api -> db (one at a time)"), "{reasons}");
}

/// A change that moves api's deadline from its client to its handler: the call to db has no
/// timeout any more (one connection to db: a request that finds it busy answers 502 at once),
/// and the handler gives up after 300 ms, answering 502 while the call runs on. Its own `slow-past-deadline` shows no
/// deadline (the held call was answered after the hold, never given up: api waits for db as
/// long as it is held), so magnitudes of its own deadline would be none at all; the base's
/// run shows the 1 s its client gives. The magnitudes are the base's: db slow for 0.5 s,
/// where the base waits and answers 200, finds the handler's 502.
#[test]
fn a_change_without_a_deadline_of_its_own_is_explored_at_the_bases_magnitudes() {
    let moved: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(r#"TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "5"))"#, "TIMEOUT = None")
            .replace("calls[var] = call(url)", "calls[var] = call_within(url)")
            .replace(
                "LIVE_CHECKS_DEPS = ",
                r#"HANDLER_DEADLINE = 0.3
ONE_AT_A_TIME = threading.Lock()


def call_within(url):
    """The call on the one connection to db (busy: an error at once), given up by the handler
    after HANDLER_DEADLINE; the call runs on."""
    if not ONE_AT_A_TIME.acquire(blocking=False):
        raise ConnectionError("the connection to db is busy")
    done = {}

    def run():
        try:
            done["answer"] = call(url)
        except Exception as e:
            done["error"] = e
        finally:
            ONE_AT_A_TIME.release()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANDLER_DEADLINE)
    if "answer" in done:
        return done["answer"]
    raise done.get("error") or TimeoutError("the handler's deadline passed")


LIVE_CHECKS_DEPS = "#,
            )
    };
    // The catalogue's slow dependencies and the magnitudes: db refused would add nothing.
    let classes = "slow-past-deadline, slow-under-deadline, slow-under-client-deadline, slow-past-client-deadline";
    let r = common::relay_change(&common::only(RELAY, classes), &[], Some(moved));
    let (code, text, v) = common::explore_gate(&r, "600s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let exploration = &v["exploration"][0];
    let d = &exploration["deadlines"][0];
    // The change's run: db held 7 s and api never gave up on it.
    assert_eq!(
        (&d["edge"], &d["deadline_ms"], &d["held_ms"]),
        (&"api -> db".into(), &serde_json::Value::Null, &7000.into()),
        "{d}"
    );
    assert_eq!(d["on_base"], serde_json::Value::Null, "{d}");
    // The base's: given up after the 1 s its client gives.
    let base = d["base"]["deadline_ms"].as_u64().unwrap_or_else(|| panic!("the base's deadline: {d}"));
    assert!(about_the_clients_second(base), "{d}");
    assert!(
        text.contains(&format!("it never gave up), and does not retry (the base revision gave it {}", said(base))),
        "{text}"
    );
    assert!(text.contains("whose magnitudes are explored)"), "{text}");
    let ran = ran(&v);
    let x = experiment(&ran, "slow-under-client-deadline");
    assert_eq!(x["outcome"]["name"], "explore-api-api-db-slow-under-client-deadline-seq", "{x}");
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    // No deadline of the change's own: no magnitude of it.
    assert!(!ran.iter().any(|x| x["class"].as_str().is_some_and(|c| c.ends_with("-of-change"))), "{v}");
    let failed: Vec<String> = ran
        .iter()
        .filter(|x| x["outcome"]["status"] == "failed")
        .filter_map(|x| x["outcome"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        failed,
        ["explore-api-api-db-slow-under-client-deadline-seq"],
        "only the base's magnitude finds it: {v}"
    );
}

/// The correct relay, explored without a base: api's deadline on db is found and said
/// ("api gives db 1.0 s, and does not retry"), in the text and in explore.json, and the
/// relay passes both magnitudes: it answers 200 with db slow under its client's deadline,
/// and 502 in time with db just past it.
#[test]
fn explore_reports_each_clients_deadline_and_the_correct_relay_passes_its_magnitudes() {
    let r = TestRepo::relay(RELAY, &[], &[("api/main.txt", "v1\n")]);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().to_str().unwrap();
    let out = r.faultline(&["explore", "--service", "api", "--seed", "6", "--budget", "600s", "--report", report]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("explore.json")).unwrap()).unwrap();
    let explored = &json[0];
    assert_found(explored);
    let ms = explored["deadlines"][0]["deadline_ms"].as_u64().unwrap_or_default();
    assert!(text.contains(&format!("deadline: api gives db {}, and does not retry", said(ms))), "{text}");
    let ran = explored["ran"].as_array().cloned().unwrap_or_default();
    let under = experiment(&ran, "slow-under-client-deadline");
    assert_eq!(under["outcome"]["status"], "passed", "{under}");
    assert_eq!(under["outcome"]["steps"][0]["answered"]["ok"], 1, "{under}");
    let past = experiment(&ran, "slow-past-client-deadline");
    assert_eq!(past["outcome"]["status"], "passed", "{past}");
    // Past api's deadline: it gave up on db and answered 502, in time.
    assert_eq!(past["outcome"]["steps"][0]["answered"]["failed"], 1, "{past}");
    assert!(text.contains("0 failed, 0 could not run"), "{text}");
}
