//! The gate's reports for CI, from a real gate on the real engine (relay services): junit.xml
//! valid against the JUnit schema CI systems read (xmllint), summary.md with every part a
//! reviewer needs, GitHub annotations and the job summary; a report directory that cannot
//! be written is "could not verify" before anything runs.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestRepo;

const CONFIG: &str = concat!(
    "version: 1\n",
    relay_services!("1"),
    r#"global: ["images/**"]
policy:
  tiers:
    high: ["api/**"]
  gate:
    high: { scenarios: affected, signoff: seniors }
  seniors: ["alice@shop.example"]
"#
);

const PASSES: &str = "name: db-slow\ntarget: api\nwhy: db gets slow; api must still answer.\nfaults:\n  - on: api -> db\n    latency: 100ms\nsteps:\n  - request: GET api /call\n    expect: { status: [200], within: 5s }\n";

/// Fails at both its checks, with characters XML and Markdown care about in its why.
const FAILS: &str = "name: db-paused\ntarget: api\nwhy: api must answer <200> & \"fast\" | even when db stalls (INC-42).\nfaults:\n  - on: db\n    pause: true\n    for: 2s\nsteps:\n  - request: GET api /call\n    expect: { status: [200, 502] }\nchecks:\n  - logs: { service: api, require: [\"never printed\"] }\n  - logs: { service: api, require: [\"not printed either\"] }\n";

fn repo() -> TestRepo {
    let r = TestRepo::relay(CONFIG, &[("db-slow", PASSES), ("db-paused", FAILS)], &[("api/main.txt", "api v1\n")]);
    r.write("api/main.txt", "api v2\n");
    r.commit("change the api");
    r
}

fn xmllint() -> &'static str {
    let ok = Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "xmllint is needed to validate junit.xml: ci/bootstrap installs it (Debian: libxml2-utils)");
    "xmllint"
}

#[test]
fn junit_summary_and_annotations_say_what_failed_and_why() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    let step_summary = dir.path().join("step-summary.md");
    std::fs::write(&step_summary, "earlier step\n").unwrap();
    let out = r.faultline_env(
        &["gate", "--base", "main", "--seed", "4", "--report", report.to_str().unwrap()],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", step_summary.to_str().unwrap())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));

    // junit.xml: valid against the schema, one suite per scenario, failures with the why.
    let junit = report.join("junit.xml");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-4.xsd");
    let lint = Command::new(xmllint()).args(["--noout", "--schema"]).arg(&schema).arg(&junit).output().unwrap();
    assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stderr));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuite name="db-paused" tests="3" failures="2" errors="0""#), "{xml}");
    assert!(xml.contains(r#"<testsuite name="db-slow" tests="1" failures="0""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="senior sign-off""#), "{xml}");
    assert!(xml.contains("check 1 (scenarios/db-paused.yaml:12): logs"), "the check's file and line: {xml}");
    assert!(xml.contains("why: api must answer &lt;200&gt; &amp; &quot;fast&quot;"), "{xml}");
    assert!(xml.contains("reproduce: git checkout "), "{xml}");

    // summary.md: verdict, tier, affected, each scenario, sign-off, the failure and its repro.
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.starts_with("## ⛔ faultline: the change is blocked\n"), "{md}");
    for part in [
        "| tier | **high** (api/main.txt matches policy.tiers.high \"api/**\") |",
        "| AI-assisted | no |",
        "| affected | `api` |",
        "| sign-off | **missing**: one of alice@shop.example must approve |",
        "| `db-paused` | `api` | ⛔ failed |",
        "| `db-slow` | `api` | ✅ passed |",
        "> api must answer <200> & \"fast\" \\| even when db stalls (INC-42).",
        "- **check 1: logs of api: a line matching /never printed/**",
        // Every failed check, not only the first.
        "- **check 2: logs of api: a line matching /not printed either/**",
        "```sh\ngit checkout ",
    ] {
        assert!(md.contains(part), "summary.md lacks {part:?}:\n{md}");
    }
    assert!(md.len() < faultline::report::summary::MAX_BYTES);
    let appended = std::fs::read_to_string(&step_summary).unwrap();
    assert_eq!(appended, format!("earlier step\n{md}"), "appended to $GITHUB_STEP_SUMMARY");

    // Annotations: the failed check's line in the scenario file, then the changed file.
    let notes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(notes.len(), 2, "{stdout}");
    assert!(
        notes[0].starts_with(
            "::error file=scenarios/db-paused.yaml,line=12,title=faultline%3A db-paused failed::check 1: logs of api"
        ),
        "{}",
        notes[0]
    );
    assert!(notes[1].starts_with("::warning file=api/main.txt,title="), "{}", notes[1]);
}

#[test]
fn a_report_directory_that_cannot_be_written_is_unverified_before_anything_runs() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = r.faultline(&["gate", "--base", "main", "--report", file.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create the report directory"), "{err}");
    assert!(!err.contains("plan:"), "nothing ran: {err}");
}

fn gate_to(r: &TestRepo, report: &Path, extra: &[&str]) -> i32 {
    let mut args = vec!["gate", "--base", "main", "--seed", "4", "--approved-by", "alice@shop.example"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--report", report.to_str().unwrap()]);
    let out = r.faultline(&args);
    out.status.code().unwrap_or(-1)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path.join("verdict.json")).unwrap()).unwrap()
}

#[test]
fn a_failing_scenario_is_reproduced_from_its_verdict() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    assert_eq!(gate_to(&r, &report, &[]), 1);
    // Elsewhere in the history: repro uses the recorded commits, not the checkout.
    r.git(&["checkout", "-q", "main"]);
    let out = r.faultline(&["repro", report.to_str().unwrap(), "--scenario", "db-paused"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("same      db-paused: was failed, now failed"), "{text}");
    assert!(text.contains("reproduced: the same result"), "{text}");
    assert!(!text.contains("db-slow"), "only the scenario asked for ran: {text}");

    let out = r.faultline(&["repro", report.to_str().unwrap(), "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("`nope` is not a scenario this gate ran; it ran: db-paused, db-slow")
    );
}

#[test]
fn corrupt_or_foreign_verdicts_are_clear_errors() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    for (name, text, says) in [
        ("corrupt", "{ not json", "is not a faultline verdict: not JSON"),
        ("foreign", r#"{"tests": 3}"#, "is not a faultline verdict: no `version`"),
        ("future", r#"{"version": 9}"#, "version 9; this faultline reads version 1"),
        ("shape", r#"{"version": 1, "decision": "maybe"}"#, "is not a faultline verdict: unknown variant `maybe`"),
    ] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("verdict.json"), text).unwrap();
        for args in [vec!["repro", d.to_str().unwrap()], vec!["report", "merge", d.to_str().unwrap(), "--out", "x"]] {
            let out = r.faultline(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
    let out = r.faultline(&["repro", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn shards_merge_into_the_verdict_of_the_whole_and_a_missing_shard_is_unverified() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let (whole, s1, s2) = (dir.path().join("whole"), dir.path().join("s1"), dir.path().join("s2"));
    assert_eq!(gate_to(&r, &whole, &[]), 1);
    let c1 = gate_to(&r, &s1, &["--partition", "1/2"]);
    let c2 = gate_to(&r, &s2, &["--partition", "2/2"]);
    let ran = |p: &Path| {
        json(p)["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (mut a, b) = (ran(&s1), ran(&s2));
    assert!(a.iter().all(|n| !b.contains(n)), "no scenario in two shards: {a:?} {b:?}");
    a.extend(b);
    a.sort();
    assert_eq!(a, ["db-paused", "db-slow"], "every scenario in one shard");
    assert!([c1, c2].contains(&1), "the shard with db-paused blocks");

    let merged = dir.path().join("merged");
    let out = r.faultline(&[
        "report",
        "merge",
        s1.to_str().unwrap(),
        s2.to_str().unwrap(),
        // The merge judges the sign-off itself, from the approvals it is given (or reads).
        "--approved-by",
        "alice@shop.example",
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let (m, w) = (json(&merged), json(&whole));
    assert_eq!(m["decision"], w["decision"]);
    assert_eq!(m["reasons"], w["reasons"]);
    let statuses = |v: &serde_json::Value| {
        v["scenarios"].as_array().unwrap().iter().map(|s| (s["name"].clone(), s["status"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(statuses(&m), statuses(&w));
    assert!(merged.join("junit.xml").is_file() && merged.join("summary.md").is_file());

    // One shard only: could not verify, saying which shard is missing.
    let out = r.faultline(&["report", "merge", s1.to_str().unwrap(), "--out", dir.path().join("m1").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("shard 2/2 is missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Shards of different gates are refused.
    r.write("api/main.txt", "api v3\n");
    r.commit("another change");
    let other = dir.path().join("other");
    gate_to(&r, &other, &["--partition", "2/2"]);
    let out = r.faultline(&[
        "report",
        "merge",
        s1.to_str().unwrap(),
        other.to_str().unwrap(),
        "--out",
        dir.path().join("m2").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("are not of one run: run.head is"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same shard twice is refused.
    let out = r.faultline(&[
        "report",
        "merge",
        s1.to_str().unwrap(),
        s1.to_str().unwrap(),
        "--out",
        dir.path().join("m3").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 1 is given twice"));
}

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("headless Chromium is needed to render report.html: ci/test installs it (Debian: chromium)");
}

#[test]
fn report_html_renders_in_headless_chromium_with_a_timeline_per_scenario() {
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    assert_eq!(gate_to(&r, &report, &[]), 1);
    let html_path = report.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Self-contained: nothing is fetched.
    for external in ["src=\"http", "href=\"http", "<script", "@import", "url("] {
        assert!(!html.contains(external), "report.html refers outside itself: {external}");
    }
    let profile = dir.path().join("chromium-profile");
    let url = format!("file://{}", html_path.display());
    let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"];
    let out = Command::new(chromium())
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("CONSOLE") && !log.contains("Uncaught"), "the page logged errors: {log}");
    // What the browser built: the verdict, both scenarios, a timeline each with the fault
    // window and the requests, and the failed check marked.
    assert!(dom.contains(r#"<h1 class="block" id="verdict">faultline: the change is blocked</h1>"#), "{dom}");
    for s in ["db-paused", "db-slow"] {
        assert!(dom.contains(&format!(r#"id="scenario-{s}""#)), "{s}: {dom}");
        assert!(dom.contains(&format!(r#"aria-label="timeline of {s}""#)), "{s}: {dom}");
    }
    assert!(dom.contains(r#"<rect class="fault""#) && dom.contains("faults[0]: pause"), "a fault window: {dom}");
    assert!(dom.contains("faults[0]: latency=100ms"), "{dom}");
    // The outside request of each scenario and db-slow's call to db are drawn. (Whether
    // db-paused's call reaches the edge before api gives up on the paused db depends on
    // load, so it is not counted.)
    assert!(dom.matches(r#"<g class="request">"#).count() >= 3, "requests on the edges: {dom}");
    assert!(dom.contains("checks: check 1 failed"), "{dom}");
    // A picture, for people to look at (kept next to the test's report when asked for).
    let png = dir.path().join("report.png");
    let out = Command::new(chromium())
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1200,1600", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success() && png.metadata().is_ok_and(|m| m.len() > 10_000),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(keep) = std::env::var_os("FAULTLINE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

#[test]
fn repro_keep_leaves_the_stack_running_until_ctrl_c() {
    use std::io::{BufRead, BufReader, Read, Write};
    let r = repo();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    assert_eq!(gate_to(&r, &report, &[]), 1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["repro", report.to_str().unwrap(), "--scenario", "db-slow", "--keep"])
        .current_dir(&r.path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut api, mut seen) = (None, String::new());
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "ended before keeping the stack: {seen}");
        seen.push_str(&line);
        if let Some(addr) = line.trim().strip_prefix("api") {
            api = Some(addr.trim().to_owned());
        }
        if line.starts_with("kept;") {
            break;
        }
    }
    assert!(seen.contains("same      db-slow: was passed, now passed"), "{seen}");
    // The kept stack answers, through faultline's ingress proxy.
    let api = api.expect("the api's address is printed");
    let mut s = std::net::TcpStream::connect(&api).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let owned = |pid: u32| {
        let out = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                "label=faultline.managed=true",
                "--format",
                "{{.Label \"faultline.owner\"}}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&format!("/{pid}/"))).count()
    };
    let pid = child.id();
    assert!(owned(pid) >= 2, "its containers run");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(0), "reproduced, then stopped on Ctrl-C");
    assert!(std::net::TcpStream::connect(&api).is_err(), "the proxy is gone");
    assert_eq!(owned(pid), 0, "every container it started is removed");
}

/// `faultline run --report` writes what the gate writes, for one scenario, even while another
/// scenario file is broken; a misspelled name gets the nearest one.
#[test]
fn run_writes_the_gates_reports_and_skips_broken_files_it_was_not_asked_for() {
    let smoke = "target: api\nwhy: api answers.\nsteps:\n  - request: GET api /health\n    expect: { status: [200] }\n";
    let config =
        "version: 1\nservices:\n  api:\n    build: images/relay\n    ports: [8080]\n    ready: { http: /health }\n";
    let r = common::TestRepo::relay(config, &[("api-smoke", smoke), ("broken", "target: nowhere\n")], &[]);
    let out = r.faultline(&["run", "--scenario", "api-smok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("did you mean `api-smoke`"), "{}", common::stderr(&out));
    let report = tempfile::tempdir().unwrap();
    let dir = report.path().join("out");
    let out = r.faultline(&["run", "--scenario", "api-smoke", "--seed", "2", "--report", dir.to_str().unwrap()]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains("skipping 1 invalid scenario file (scenarios/broken.yaml)"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["scenarios"][0]["name"], "api-smoke");
    for f in ["junit.xml", "summary.md", "report.html"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // Running them all needs them all valid.
    let out = r.faultline(&["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}

/// The reply a fault lost after the dependency did the work is an ordinary 201 on the
/// dependency's side: report.html rings it, and says the two attempts of one key, or the two
/// calls made for one order (the double charge), without hovering.
#[test]
fn report_html_marks_a_lost_reply_and_names_the_attempts_of_one_request() {
    let html = lost_reply_report(["order-17", "order-17"]);
    assert_eq!(html.matches(r#"<circle class="hit""#).count(), 1, "the one request the fault met: {html}");
    assert!(html.contains(r##"fill="#8250df">2 attempts of order-17</text>"##), "{html}");
    assert!(!html.contains(r#"<text class="calls""#), "joined once, as attempts: {html}");
    // Quoted values are code, not literal backticks.
    assert!(html.contains("<td class=\"said\"><code>2</code> rows</td>"), "{html}");
    // A new key per attempt (the demo's bug): no attempts to join by key, but both charges
    // were made for the one order from outside, and the report says so.
    let html = lost_reply_report(["order-17-0", "order-17-1"]);
    assert!(!html.contains(r#"<text class="attempts""#), "{html}");
    assert!(html.contains(r##"fill="#bc4c00">2 calls for one POST /orders</text>"##), "{html}");
}

/// report.html of a scenario whose one order from outside made two charges with these keys,
/// the first of which a fault answered for.
fn lost_reply_report(keys: [&str; 2]) -> String {
    let request = |seq: u64, start: f64, fault: Option<&str>, key: &str| {
        serde_json::json!({
            "conn": seq, "seq": seq, "method": "POST", "path": "/charges", "status": 201, "start_ms": start,
            "duration_ms": 12.0, "fault": fault, "outcome": if fault.is_some() { "dropped" } else { "answered" },
            "request_id": key, "attempt": if keys[0] == keys[1] { seq } else { 1 }
        })
    };
    let observations = |name: &str, requests: Vec<serde_json::Value>| {
        serde_json::json!({
            "edge": name, "seed": 1, "elapsed_ms": 900.0, "connections_opened": 2,
            "connections_by_outcome": {}, "bytes_upstream": 0, "bytes_downstream": 0, "connections": [],
            "requests": requests, "latency": null
        })
    };
    let edge = observations(
        "orders -> payments",
        vec![request(1, 100.0, Some("faults[0]"), keys[0]), request(2, 400.0, None, keys[1])],
    );
    let order = serde_json::json!({
        "conn": 1, "seq": 1, "method": "POST", "path": "/orders", "status": 201, "start_ms": 50.0,
        "duration_ms": 600.0, "fault": null, "outcome": "answered", "request_id": null, "attempt": null
    });
    let ingress = observations("host -> orders", vec![order]);
    let v = serde_json::json!({
        "version": 1, "decision": "block", "reasons": ["scenario charge-reply-lost failed"], "seed": 1,
        "scenarios": [{
            "name": "charge-reply-lost", "file": "scenarios/charge-reply-lost.yaml", "target": "orders", "why": "INC-2310",
            "seed": 1, "status": "failed", "error": null, "steps": [],
            "checks": [{"index": 0, "line": 3, "check": "sql on postgres: `SELECT 1`", "passed": false, "expected": "`1` row",
                        "observed": "`2` rows"}],
            "edges": {"orders -> payments": edge, "host -> orders": ingress}, "edge_offsets_ms": {},
            "faults": [{"name": "faults[0]", "on": "orders -> payments", "what": "http.drop_response", "start_ms": 0.0, "end_ms": 800.0}],
            "checks_ms": 900.0, "stack_seconds": 0.0, "run_seconds": 1.0, "teardown_seconds": 0.0,
            "repro": "faultline run --scenario charge-reply-lost --seed 1"
        }],
        "timings": {"plan_seconds": 0.0, "build_seconds": 0.0, "images_seconds": 0.0, "scenarios_seconds": 0.0,
                    "stacks_seconds": 0.0, "runs_seconds": 0.0, "teardown_seconds": 0.0, "total_seconds": 0.0}
    });
    let report: faultline::outcome::GateReport = serde_json::from_value(v).unwrap();
    faultline::report::html::render(&report)
}
