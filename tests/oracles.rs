//! Issue 24's oracles through the binary on the relay fixture: answers agree with the source
//! of truth (`agrees:`), equivalent faults give equivalent outcomes, and a difference a
//! senior accepts (`--accept-difference`). Each: a bug it catches, and the correct system
//! passing. These tests start containers.

mod common;

use common::{TestRepo, explore_gate as gate, only, output, ran};

/// The flavours of one transient failure (`explore.classes`).
const TRANSIENT: &str =
    "errors-first, errors-first-502, errors-first-504, errors-first-500, errors-first-large, reset-first";

/// api keeps a counter in Redis (`POST /count`, `GET /count`); the workload increments it
/// and reads it back, and the read must agree with Redis. The gate explores api whenever
/// `api/**` or the images change.
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
  classes: [down, unresponsive, reset-mid-response, paused, restarted]
  workloads:
    api:
      - request: POST api /count
        expect: { status: [200, 502], within: 2s }
      - request: GET api /count
        expect: { status: [200, 502], within: 2s }
        agrees: { path: $.count, redis: { service: redis, command: [GET, count] }, within: 3s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#;

/// A relay repository with `config` on main, the fixture's Redis image, and a change
/// committed that rewrites the relay's code with `relay` (or only touches api).
fn repo(config: &str, relay: Option<&dyn Fn(&str) -> String>) -> TestRepo {
    let redis = common::redis_image();
    common::relay_change(config, &[(redis.0, &redis.1)], relay)
}

/// The first experiment with a check whose name starts with `check` that `passed` (or not),
/// and that check.
fn with_check(ran: &[serde_json::Value], check: &str, passed: bool) -> Option<(serde_json::Value, serde_json::Value)> {
    ran.iter().find_map(|x| {
        let c = x["outcome"]["checks"].as_array()?.iter().find(|c| {
            c["check"].as_str().is_some_and(|n| n.starts_with(check)) && c["passed"] == serde_json::json!(passed)
        })?;
        Some((x.clone(), c.clone()))
    })
}

/// Answers agree with the truth: a change that answers a default count when Redis fails
/// (200 `{"count": 0}`, a value Redis never held) passes every status and latency
/// expectation, and is caught: the read during the fault disagrees with every value the
/// truth held, where the base answered an error.
#[test]
fn the_gate_blocks_a_change_that_answers_what_the_truth_never_held() {
    let default: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(r#"os.environ.get("COUNT_ON_ERROR", "")"#, r#"os.environ.get("COUNT_ON_ERROR", "0")"#)
    };
    let r = repo(COUNTER, Some(default));
    let (code, text, v) = gate(&r, "60s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let ran = ran(&v);
    let (x, c) =
        with_check(&ran, "answers of step 2 (GET api /count) at $.count agree with redis on redis: GET count", false)
            .unwrap_or_else(|| panic!("{v}"));
    let observed = c["observed"].as_str().unwrap_or_default();
    assert!(observed.contains("carried `0`") && observed.contains("where the truth held"), "{c}");
    assert_eq!(x["on"], "api -> redis", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    // Every step passed: only the truth says the answer was wrong.
    assert!(x["outcome"]["steps"].as_array().unwrap().iter().all(|s| s["passed"] == true), "{x}");
}

/// The correct relay answers 502 while Redis is unreachable and the count Redis holds
/// otherwise: both agreement checks pass in every experiment, on both sides.
#[test]
fn the_gate_passes_a_system_whose_answers_agree_with_the_truth() {
    let r = repo(COUNTER, None);
    let (code, text, v) = gate(&r, "40s", &[]);
    assert_eq!(code, Some(0), "{text}");
    let ran = ran(&v);
    let down = ran
        .iter()
        .find(|x| x["class"] == "down" && x["on"] == "api -> redis" && x["mode"] == "sequential")
        .unwrap_or_else(|| panic!("{v}"));
    let checks = down["outcome"]["checks"].as_array().unwrap();
    let agree: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["check"].as_str().is_some_and(|n| n.contains("agree"))).collect();
    assert_eq!(agree.len(), 2, "{down}");
    assert!(agree.iter().all(|c| c["passed"] == true), "{down}");
    assert!(with_check(&ran, "", false).is_none(), "{v}");
}

/// A declaration that does not hold without any fault is wrong: the gate cannot judge with
/// it, says so (could not verify) and points at the declaration in faultline.yaml.
#[test]
fn an_agreement_that_fails_without_faults_could_not_verify_at_its_declaration() {
    let wrong = COUNTER.replace("command: [GET, count]", "command: [GET, counter]");
    let r = repo(&wrong, None);
    let (code, text, _) = gate(&r, "40s", &[]);
    assert_eq!(code, Some(2), "{text}");
    let line = wrong.lines().position(|l| l.contains("agrees:")).unwrap() + 1;
    assert!(text.contains(&format!("faultline.yaml:{line}:9")), "{text}");
    assert!(text.contains("does not hold without any fault"), "{text}");
}

/// api calls db (a relay), explored by the gate whenever `api/**` or the images change;
/// `RETRY_ON` is api's list of failures it calls db again after.
fn retrying(retry_on: &str) -> String {
    concat!(
        "version: 1\n",
        relay_services!("1"),
        r#"explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 2s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#
    )
    .replace(r#"CALL_TIMEOUT: "1""#, &format!(r#"CALL_TIMEOUT: "1", RETRY_ON: "{retry_on}""#))
}

/// Equivalent faults, equivalent outcomes: a change that retries its dependency on 503 only
/// masks the first two 503s (the workload gets 200) but not the same two failures as 502
/// (the workload gets 502). Each is acceptable alone, and it does better than its base
/// under the 503; compared with each other, the flavours differ, seen again in a second
/// run of both, and the base, which treats them alike, shows it is the change's doing.
#[test]
fn the_gate_blocks_a_change_that_treats_a_502_unlike_a_503() {
    let only_503: &dyn Fn(&str) -> String =
        &|code: &str| code.replace(r#"os.environ.get("RETRY_ON", "")"#, r#"os.environ.get("RETRY_ON", "503")"#);
    let r =
        repo(&only(&retrying("").replace(r#", RETRY_ON: """#, ""), "errors-first, errors-first-502"), Some(only_503));
    let (code, text, v) = gate(&r, "150s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let ran = ran(&v);
    let (x, c) = with_check(&ran, "the same outcome for the client under 502 (nginx's HTML page) as under 503", false)
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!((x["class"].as_str(), x["on"].as_str()), (Some("errors-first-502"), Some("api -> db")), "{x}");
    let observed = c["observed"].as_str().unwrap_or_default();
    assert!(observed.contains("beside explore-api-api-db-errors-first-seq"), "both experiments named: {c}");
    assert!(
        observed.contains(
            "under 502 (nginx's HTML page) 1 failed (5xx) in time; under 503 (a JSON problem) 1 answered in time"
        ),
        "{c}"
    );
    assert!(observed.contains("seen again"), "{c}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "the base treats both alike: {x}");
    assert!(x["outcome"]["steps"].as_array().unwrap().iter().all(|s| s["passed"] == true), "{x}");
}

/// The correct relay retries every flavour of a transient failure: each is masked alike, and
/// every experiment of the family gets the check, passed.
#[test]
fn the_gate_passes_a_system_that_masks_every_flavour_alike() {
    let r = repo(&only(&retrying("500,502,503,504,reset"), TRANSIENT), None);
    let (code, text, v) = gate(&r, "90s", &[]);
    assert_eq!(code, Some(0), "{text}");
    let ran = ran(&v);
    for flavour in
        ["502 (nginx's HTML page)", "504 (plain text)", "500 (empty)", "503 (a 256 KiB", "a reset before the reply"]
    {
        let (x, _) = with_check(&ran, &format!("the same outcome for the client under {flavour}"), true)
            .unwrap_or_else(|| panic!("{flavour}: {v}"));
        assert_eq!(x["outcome"]["status"], "passed", "{x}");
    }
    assert!(with_check(&ran, "", false).is_none(), "{v}");
}

/// A difference a senior accepts: a change that deliberately gives up on db sooner answers
/// 502 in a few hundred ms where its base waited and answered 200. Unaccepted, it blocks, and
/// the verdict gives its ID and how to accept it; the same ID comes back on a second run,
/// and handed in by CI (`--accept-difference ID=WHO`) it is reported as accepted, by whom,
/// and the change is allowed.
#[test]
fn a_difference_blocks_until_accepted_and_is_then_reported_as_accepted() {
    let config = concat!(
        "version: 1\n",
        relay_services!("1.8"),
        r#"explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 2s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#
    );
    let shorter: &dyn Fn(&str) -> String =
        &|code: &str| code.replace(r#"TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "5"))"#, "TIMEOUT = 0.2");
    let r = repo(&only(config, "down, slow-under-deadline"), Some(shorter));
    let (code, text, v) = gate(&r, "60s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let ran = ran(&v);
    let worse: Vec<&serde_json::Value> = ran.iter().filter(|x| x["compared"]["verdict"] == "worse").collect();
    assert!(!worse.is_empty(), "{v}");
    let ids: Vec<&str> = worse.iter().filter_map(|x| x["difference"].as_str()).collect();
    assert_eq!(ids.len(), worse.len(), "every difference has an ID: {v}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains(&format!("faultline accept {}", ids[0])), "{reasons}");
    // Accepted on the command line, by a named senior: allowed, and said so.
    let accepts: Vec<String> = ids.iter().map(|id| format!("--accept-difference={id}=@alice")).collect();
    let accepts: Vec<&str> = accepts.iter().map(String::as_str).collect();
    let (code, text, v) = gate(&r, "60s", &accepts);
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains(&format!("the difference {} (", ids[0])), "the same ID again: {reasons}");
    assert!(reasons.contains("is accepted by @alice (--accept-difference), not blocking"), "{reasons}");
    assert_eq!(code, Some(0), "{text}");
    let accepted = ran_accepted(&v);
    assert!(accepted.iter().any(|x| x["accepted"]["by"] == "@alice"), "{v}");
    // An ID of no difference is refused where it is typed.
    let out = r.faultline(&["gate", "--base", "main", "--accept-difference", "d-nothex"]);
    assert_eq!(out.status.code(), Some(2), "{}", output(&out));
    assert!(output(&out).contains("is not a difference ID"), "{}", output(&out));
}

/// The experiments of a verdict.json whose difference was accepted.
fn ran_accepted(v: &serde_json::Value) -> Vec<serde_json::Value> {
    ran(v).into_iter().filter(|x| x.get("accepted").is_some()).collect()
}

/// The base's recorded results (`--base-results`): the gate of a tree records what every
/// experiment did there (`--record-base-results`), and the gate of a change based on that
/// tree compares with the record instead of running the base again. A record may spare the
/// base's run, never excuse the change: with every recorded outcome forged into a failure,
/// a change that answers what the truth never held is still blocked, on a live run of the
/// base. And a store inside the checkout, where a change could commit records of its own,
/// is refused (could not verify).
#[test]
fn recorded_base_results_spare_the_base_run_and_never_excuse_a_change() {
    let r = repo(COUNTER, None);
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let (code, text, _) = gate(&r, "40s", &["--base-results", dir, "--record-base-results"]);
    assert_eq!(code, Some(0), "{text}");
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(store.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect()
    };
    assert!(!entries().is_empty(), "the gate of the tree recorded its experiments: {text}");
    let recorded_tree = r.git(&["rev-parse", "HEAD^{tree}"]);
    // The change merged: main's tip is the tree recorded, the base of the next changes.
    r.git(&["branch", "-f", "main", "HEAD"]);

    // A correct change on top: compared with the record, the base is not run again.
    r.write("api/main.txt", "v3\n");
    r.commit("api change 2");
    let (code, text, v) = gate(&r, "40s", &["--base-results", dir]);
    assert_eq!(code, Some(0), "{text}");
    let from_record: Vec<serde_json::Value> =
        ran(&v).into_iter().filter(|x| x["compared"]["recorded"] == serde_json::json!(recorded_tree)).collect();
    assert!(!from_record.is_empty(), "no experiment was compared with the record: {v}");
    assert!(text.contains("compared with the base's recorded results"), "{text}");

    // Every record forged into a failure, and a change that answers a count Redis never held.
    for path in entries() {
        let mut e: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let o = &mut e["outcome"];
        o["status"] = "failed".into();
        for part in ["steps", "checks"] {
            for x in o[part].as_array_mut().unwrap() {
                x["passed"] = false.into();
            }
        }
        std::fs::write(&path, serde_json::to_vec(&e).unwrap()).unwrap();
    }
    let code = std::fs::read_to_string(r.path.join("images/relay/relay.py")).unwrap();
    r.write(
        "images/relay/relay.py",
        code.replace(r#"os.environ.get("COUNT_ON_ERROR", "")"#, r#"os.environ.get("COUNT_ON_ERROR", "0")"#),
    );
    r.commit("answer 0 when redis fails");
    let (code, text, v) = gate(&r, "60s", &["--base-results", dir]);
    assert_eq!(code, Some(1), "{text}");
    let (x, _) = with_check(&ran(&v), "answers of step 2 (GET api /count) at $.count agree with redis", false)
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert!(x["compared"]["recorded"].is_null(), "a block rests on a run of the base: {x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "{x}");

    // A store inside the checkout: refused before anything runs.
    let inside = r.path.join("records");
    let (code, text, _) = gate(&r, "40s", &["--base-results", inside.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("inside the checkout"), "{text}");
}

/// `explore --record-base-results` records under HEAD's tree, so it refuses a working tree
/// that differs from HEAD (an outcome of uncommitted code is no tree's) and a store inside
/// the checkout; neither starts a container.
#[test]
fn recording_base_results_needs_a_clean_checkout_and_a_store_outside_it() {
    let r = repo(COUNTER, None);
    let store = tempfile::tempdir().unwrap();
    r.write("api/main.txt", "uncommitted\n");
    let out = r.faultline(&["explore", "--record-base-results", store.path().to_str().unwrap()]);
    let text = output(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("the working tree differs from HEAD"), "{text}");
    r.git(&["checkout", "--", "api/main.txt"]);
    let inside = r.path.join("records");
    let out = r.faultline(&["explore", "--record-base-results", inside.to_str().unwrap()]);
    let text = output(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("inside the checkout"), "{text}");
    assert!(std::fs::read_dir(store.path()).unwrap().next().is_none(), "nothing recorded");
}
