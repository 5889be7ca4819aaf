//! The code host reaches the gate: labels and the author from GitHub's event file and
//! GitLab's variables, approvals and GitLab's notes from their APIs (a local server that
//! speaks them, over real HTTP), seniors per area from `policy.owners` and CODEOWNERS.
//! Through the binary, and a difference accepted in a GitLab note through the library's
//! path of the gate; no Docker (the rules here run no scenario).

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::TestRepo;
use serde_json::{Value, json};

const CONFIG: &str = r#"version: 1
services:
  api:
    paths: ["api/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
  db:
    paths: ["db/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
policy:
  tiers:
    high: ["api/**", "db/**"]
  gate:
    high: { scenarios: none, signoff: seniors }
  seniors: ["@alice"]
"#;

fn repo(config: &str) -> (TestRepo, String) {
    let r = TestRepo::relay(config, &[], &[("api/main.txt", "v1\n"), ("db/main.txt", "v1\n")]);
    r.write("api/main.txt", "v2\n");
    let head = r.commit("api change\n\nReviewed-by: @alice");
    (r, head)
}

/// A code host on 127.0.0.1: `routes` maps a path (with query) to a status, extra headers
/// (`{URL}` in them is the server's own URL) and a body; every request's path and headers
/// are recorded.
struct FakeHost {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A request's path and headers (names in lower case).
type Seen = (String, Vec<(String, String)>);
/// A path, the status, extra headers, the JSON body.
type Route = (String, u16, Vec<(String, String)>, Value);

fn fake_host(routes: Vec<Route>) -> FakeHost {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let own = url.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            log.lock().unwrap().push((path.clone(), headers));
            let (status, extra, body) = routes
                .iter()
                .find(|r| r.0 == path)
                .map(|r| (r.1, r.2.clone(), r.3.to_string()))
                .unwrap_or((404, Vec::new(), "{\"message\":\"Not Found\"}".into()));
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {}\r\n", v.replace("{URL}", &own)));
            }
            let _ = conn.write_all(format!("{head}\r\n{body}").as_bytes());
        }
    });
    FakeHost { url, seen }
}

fn review(login: &str, state: &str, sha: &str) -> Value {
    json!({"user": {"login": login}, "state": state, "commit_id": sha})
}

/// A pull_request event file for `head`.
fn event(dir: &std::path::Path, head: &str, labels: &[&str], author: &str) -> String {
    let path = dir.join("event.json");
    let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
    let ev = json!({"action": "synchronize", "pull_request": {"number": 7, "labels": labels,
        "user": {"login": author}, "head": {"sha": head}}, "repository": {"full_name": "shop/app"}});
    std::fs::write(&path, ev.to_string()).unwrap();
    path.display().to_string()
}

fn gate(r: &TestRepo, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    r.with_report(&[&["gate", "--base", "main", "--head", "HEAD", "--seed", "1"], extra].concat(), env)
}

fn github_env<'a>(host: &'a FakeHost, event: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_PATH", event),
        ("GITHUB_API_URL", &host.url),
        ("GITHUB_REPOSITORY", "shop/app"),
        ("GITHUB_TOKEN", "ghs_test"),
    ]
}

#[test]
fn a_github_approval_of_the_head_signs_off_and_a_stale_one_does_not() {
    let (r, head) = repo(CONFIG);
    let tmp = tempfile::tempdir().unwrap();
    let ev = event(tmp.path(), &head, &["bug", "ai-assisted"], "dev");
    // Two pages: the approval of the head is on the second.
    let page2 = "/repos/shop/app/pulls/7/reviews?per_page=100&page=2".to_owned();
    let host = fake_host(vec![
        (
            "/repos/shop/app/pulls/7/reviews?per_page=100".into(),
            200,
            vec![("link".into(), format!("<{{URL}}{page2}>; rel=\"next\""))],
            json!([review("bob", "APPROVED", &head), review("Alice", "COMMENTED", &head)]),
        ),
        (page2.clone(), 200, vec![], json!([review("alice", "APPROVED", &head)])),
    ]);
    let (code, v, text) = gate(&r, &[], &github_env(&host, &ev));
    assert_eq!(code, 0, "{text}");
    let approvals = &v["signoff"]["approvals"];
    assert_eq!(approvals.as_array().unwrap().len(), 2, "{approvals}");
    let alice = approvals.as_array().unwrap().iter().find(|a| a["who"] == "@alice").expect("alice's approval");
    assert_eq!(alice["senior"], true);
    assert_eq!(alice["source"], format!("GitHub review of {}", &head[..10]));
    // The token went in the header, and the labels came from the event: two of them.
    let seen = host.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].1.iter().any(|(k, v)| k == "authorization" && v == "Bearer ghs_test"), "{seen:?}");
    let evidence = v["plan"]["ai_evidence"].as_array().unwrap();
    assert!(evidence.iter().any(|e| e["kind"] == "label" && e["value"] == "ai-assisted"), "{evidence:?}");
    assert!(!text.contains("ghs_test"), "the token is never printed:\n{text}");

    // Alice approved an earlier head: stale, shown, not counted. The trailer never counts.
    let stale = fake_host(vec![(
        "/repos/shop/app/pulls/7/reviews?per_page=100".into(),
        200,
        vec![],
        json!([review("alice", "APPROVED", "0123456789abcdef0123456789abcdef01234567")]),
    )]);
    let (code, v, text) = gate(&r, &[], &github_env(&stale, &ev));
    assert_eq!(code, 1, "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("approved an earlier head"), "{reasons}");
    assert!(reasons.contains("written by the change itself"), "{reasons}");

    // Alice approved, then asked for changes: not approved.
    let withdrawn = fake_host(vec![(
        "/repos/shop/app/pulls/7/reviews?per_page=100".into(),
        200,
        vec![],
        json!([review("alice", "APPROVED", &head), review("alice", "CHANGES_REQUESTED", &head)]),
    )]);
    assert_eq!(gate(&r, &[], &github_env(&withdrawn, &ev)).0, 1);
}

#[test]
fn approvals_that_cannot_be_read_are_could_not_verify() {
    let (r, head) = repo(CONFIG);
    let tmp = tempfile::tempdir().unwrap();
    let ev = event(tmp.path(), &head, &[], "dev");
    let broken = fake_host(vec![(
        "/repos/shop/app/pulls/7/reviews?per_page=100".into(),
        500,
        vec![],
        json!({"message": "boom"}),
    )]);
    let (code, v, text) = gate(&r, &[], &github_env(&broken, &ev));
    assert_eq!(code, 2, "{text}");
    assert!(v["reasons"].to_string().contains("cannot read the approvals of GitHub pull request shop/app#7"), "{v}");
    // No token: said how to give one.
    let env: Vec<(&str, &str)> = github_env(&broken, &ev).into_iter().filter(|(k, _)| *k != "GITHUB_TOKEN").collect();
    let (code, v, _) = gate(&r, &[], &env);
    assert_eq!(code, 2);
    assert!(v["reasons"].to_string().contains("GITHUB_TOKEN"), "{v}");
    // An approval handed in by CI still counts when the host does not answer.
    let (code, _, text) = gate(&r, &["--approved-by", "@alice"], &env);
    assert_eq!(code, 0, "{text}");
    // An event file that cannot be read stops the gate: a lost label could lose the AI tier.
    let (code, _, text) =
        gate(&r, &[], &[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", "/nonexistent/event.json")]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("GITHUB_EVENT_PATH"), "{text}");
}

#[test]
fn an_agent_that_opened_the_pull_request_makes_it_ai_assisted() {
    let (r, head) = repo(CONFIG);
    let tmp = tempfile::tempdir().unwrap();
    let ev = event(tmp.path(), &head, &[], "copilot-swe-agent[bot]");
    let out = r.faultline_env(
        &["plan", "--base", "main", "--format", "json"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", &ev)],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["ai_assisted"], true, "{plan}");
    assert_eq!(plan["ai_evidence"][0]["value"], "pull request opened by @copilot-swe-agent[bot]");
}

/// The merge request's routes on a fake GitLab: its head `sha`, Alice's approval, its
/// versions and one page of notes.
fn gitlab_routes(sha: &str, versions: Value, notes: Value) -> Vec<Route> {
    let mr = "/api/v4/projects/42/merge_requests/3";
    vec![
        (mr.into(), 200, vec![], json!({"iid": 3, "sha": sha})),
        (format!("{mr}/approvals"), 200, vec![], json!({"approved_by": [{"user": {"username": "alice"}}]})),
        (format!("{mr}/versions?per_page=100"), 200, vec![], versions),
        (format!("{mr}/notes?per_page=100&sort=asc"), 200, vec![], notes),
    ]
}

const NOTES: &str = "/api/v4/projects/42/merge_requests/3/notes?per_page=100&sort=asc";

/// A version of the merge request: a push that made `head` its head at `at`.
fn version(id: u64, head: &str, at: &str) -> Value {
    json!({"id": id, "head_commit_sha": head, "base_commit_sha": "1".repeat(40), "start_commit_sha": "1".repeat(40),
           "created_at": at, "merge_request_id": 9, "state": "collected", "real_size": "1"})
}

/// A note as GitLab lists it.
fn note(who: &str, system: bool, at: &str, body: &str) -> Value {
    json!({"id": 1, "type": null, "body": body, "author": {"id": 5, "username": who, "name": who},
           "created_at": at, "updated_at": at, "system": system, "noteable_type": "MergeRequest",
           "noteable_iid": 3, "resolvable": false, "confidential": false, "internal": false})
}

fn gitlab_env<'a>(api: &'a str, head: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GITLAB_CI", "true"),
        ("CI_MERGE_REQUEST_IID", "3"),
        ("CI_PROJECT_ID", "42"),
        ("CI_API_V4_URL", api),
        ("CI_COMMIT_SHA", head),
        ("CI_MERGE_REQUEST_LABELS", "bug,ai-assisted"),
        ("FAULTLINE_GITLAB_TOKEN", "glpat-test"),
    ]
}

#[test]
fn a_gitlab_approval_counts_while_the_merge_request_head_is_the_commit_under_test() {
    let (r, head) = repo(CONFIG);
    let versions = json!([version(1, &head, "2024-05-01T10:00:00.000Z")]);
    let host = fake_host(gitlab_routes(&head, versions.clone(), json!([])));
    let api = format!("{}/api/v4", host.url);
    let (code, v, text) = gate(&r, &[], &gitlab_env(&api, &head));
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["approvals"][0]["source"], format!("GitLab approval of {}", &head[..10]));
    assert!(v["plan"]["ai_evidence"].to_string().contains("ai-assisted"), "{v}");
    let seen = host.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, h)| h.iter().any(|(k, v)| k == "private-token" && v == "glpat-test")), "{seen:?}");
    assert!(seen.iter().any(|(p, _)| p == NOTES), "the notes are read: {seen:?}");
    assert!(!text.contains("glpat-test"), "the token is never printed:\n{text}");
    // The merge request moved on: its approvals are not about this commit, and nothing
    // written on it is either (its notes are not read).
    let moved = fake_host(gitlab_routes("0123456789abcdef0123456789abcdef01234567", versions, json!([])));
    let api = format!("{}/api/v4", moved.url);
    let (code, _, text) = gate(&r, &[], &gitlab_env(&api, &head));
    assert_eq!(code, 1, "{text}");
    assert!(!moved.seen.lock().unwrap().iter().any(|(p, _)| p == NOTES));
}

/// GitLab's notes and versions are read as its approvals are: an error, a reply of another
/// shape or more pages than are read make a missing sign-off could not verify (exit 2), with
/// the reason.
#[test]
fn gitlab_notes_that_cannot_be_read_are_could_not_verify() {
    let (r, head) = repo(CONFIG);
    let versions = json!([version(1, &head, "2024-05-01T10:00:00Z")]);
    let versions_path = "/api/v4/projects/42/merge_requests/3/versions?per_page=100";
    let page2 = format!("{NOTES}&page=2");
    // Every page says there is another: bounded, as GitHub's reviews are.
    let endless = vec![("x-next-page".to_owned(), "2".to_owned())];
    let cases: Vec<(Vec<Route>, &str)> = vec![
        (vec![(NOTES.into(), 500, vec![], json!({"message": "500 Internal Server Error"}))], "sort=asc: 500"),
        (vec![(NOTES.into(), 200, vec![], json!({"message": "a list?"}))], "sort=asc: expected a list"),
        (vec![(versions_path.into(), 403, vec![], json!({"message": "403 Forbidden"}))], "versions?per_page=100: 403"),
        (
            vec![(versions_path.into(), 200, vec![], json!([{"id": 2, "head_commit_sha": head}]))],
            "a version without a `head_commit_sha` or a `created_at` time",
        ),
        (
            vec![(NOTES.into(), 200, endless.clone(), json!([])), (page2.clone(), 200, endless, json!([]))],
            "more than 2000 notes; not all could be read",
        ),
    ];
    for (replaced, why) in cases {
        let mut routes = gitlab_routes(&head, versions.clone(), json!([]));
        routes.retain(|r| !replaced.iter().any(|x| x.0 == r.0));
        routes.extend(replaced);
        let host = fake_host(routes);
        let api = format!("{}/api/v4", host.url);
        let (code, v, text) = gate(&r, &[], &gitlab_env(&api, &head));
        assert_eq!(code, 2, "{why}: {text}");
        let reasons = v["reasons"].to_string();
        assert!(reasons.contains("cannot read the approvals of GitLab merge request 42!3"), "{reasons}");
        assert!(reasons.contains(why), "{why}: {reasons}");
    }
    // Twenty pages were read, no more: the first and nineteen of the next.
    let seen = |host: &FakeHost| host.seen.lock().unwrap().iter().filter(|(p, _)| *p == page2).count();
    let mut routes = gitlab_routes(&head, versions.clone(), json!([]));
    routes.retain(|r| r.0 != NOTES);
    let next = vec![("x-next-page".to_owned(), "2".to_owned())];
    routes.extend([(NOTES.into(), 200, next.clone(), json!([])), (page2.clone(), 200, next, json!([]))]);
    let host = fake_host(routes);
    let api = format!("{}/api/v4", host.url);
    assert_eq!(gate(&r, &[], &gitlab_env(&api, &head)).0, 2);
    assert_eq!(seen(&host), 19);
}

/// An experiment of `api` whose outcome is worse than its base's under the same fault: a
/// difference, with its ID.
fn worse() -> faultline::outcome::ExploreReport {
    use faultline::outcome::{Compared, ExperimentResult, ExploreReport, ScenarioOutcome};
    let outcome = |ok: bool| -> ScenarioOutcome {
        let answered = if ok { json!({"ok": 1}) } else { json!({"failed": 1}) };
        let mut o: ScenarioOutcome = serde_json::from_value(json!({"name": "explore-api-db-slow", "file": "e.yaml",
            "target": "api", "why": "w", "seed": 1, "status": "passed", "error": null,
            "steps": [{"index": 0, "step": "GET api /call", "passed": true, "expected": "", "observed": "",
                       "answered": answered}],
            "checks": [], "edges": {}, "faults": [], "checks_ms": 0.0, "stack_seconds": 0.0, "run_seconds": 0.0,
            "teardown_seconds": 0.0, "repro": "r"}))
        .unwrap();
        o.judge();
        o
    };
    let (mut head, base) = (outcome(false), outcome(true));
    head.checks.push(faultline::outcome::CheckOutcome {
        index: 0,
        line: 0,
        check: "as good as the base revision under the same fault".into(),
        passed: false,
        expected: "-".into(),
        observed: "worse".into(),
        unobserved: false,
    });
    head.judge();
    let (verdict, differences) = faultline::outcome::differential::compare(&head, &base);
    ExploreReport {
        service: "api".into(),
        edges: vec!["api -> db".into()],
        planned: 1,
        ran: vec![ExperimentResult {
            class: "slow-under-deadline".into(),
            on: "api -> db".into(),
            mode: faultline::scenario::experiments::Mode::Sequential,
            with: None,
            outcome: head,
            scenario: None,
            compared: Some(Compared { base, verdict, differences, pairs: 2, recorded: None }),
            difference: None,
            accepted: None,
            outage: None,
        }],
        ..Default::default()
    }
}

/// The gate's judgement of [`worse`] with what GitLab says (its versions and notes), as
/// `gate` makes it: the code host read through `gate::given_approvals` over real HTTP, the
/// acceptances applied, the verdict decided.
fn judged_with_gitlab(head: &str, versions: Value, notes: Vec<Route>) -> (faultline::outcome::GateReport, FakeHost) {
    use faultline::outcome::{Decision, GateReport};
    let mut routes = gitlab_routes(head, versions, json!([]));
    routes.retain(|r| !r.0.starts_with(NOTES));
    routes.extend(notes);
    let host = fake_host(routes);
    let plan: faultline::plan::Plan = serde_json::from_value(json!({
        "base": {"rev": "main", "commit": "a".repeat(40)}, "head": {"rev": "HEAD", "commit": head},
        "merge_base": "a".repeat(40), "config": {"from": "revision", "rev": "main", "commit": "a".repeat(40)},
        "changed": [], "commits": [], "ai_assisted": false, "ai_evidence": [], "tier": null, "tier_reason": null,
        "affected": [], "stack": [], "stack_levels": [], "gate": null, "scenarios": [], "scenario_files": [],
        "scenarios_available": 0, "signoff_required": false, "seniors": ["@alice"], "explore": ["api"],
    }))
    .unwrap();
    let ci = faultline::codehost::from_env(&|k: &str| {
        let api = format!("{}/api/v4", host.url);
        gitlab_env(&api, head).into_iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_owned())
    })
    .unwrap()
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let given = rt.block_on(faultline::gate::given_approvals(&[], ci.host.as_ref(), &plan));
    let signoff = faultline::verdict::signoff(&plan, &given);
    let mut exploration = vec![worse()];
    let notes = faultline::verdict::accept::apply(&mut exploration, &given.accepts, Some(&signoff));
    let report = GateReport {
        version: 1,
        decision: Decision::Unverified,
        reasons: vec![],
        seed: 1,
        plan: Some(plan),
        signoff: Some(signoff),
        scenarios: vec![],
        timings: Default::default(),
        partition: None,
        run: None,
        exploration,
        prepare: vec![],
    };
    let mut report = report.decide(vec![], std::time::Instant::now());
    report.reasons.extend(notes);
    (report, host)
}

#[test]
fn a_seniors_gitlab_note_written_on_the_head_accepts_a_difference() {
    use faultline::outcome::Decision;
    let head = "b".repeat(40);
    let earlier = "c".repeat(40);
    let id = worse().ran[0].difference_id("api").expect("a difference");
    let accept = format!("The shorter deadline is deliberate.\n\nfaultline accept {id}");
    let pushed =
        json!([version(1, &earlier, "2024-05-01T10:00:00.000Z"), version(2, &head, "2024-05-01T11:00:00.000Z")]);
    // Nobody accepted it: it blocks, and says how to accept it.
    let (r, _) = judged_with_gitlab(&head, pushed.clone(), vec![(NOTES.into(), 200, vec![], json!([]))]);
    assert_eq!(r.decision, Decision::Block, "{:?}", r.reasons);
    assert!(r.reasons.iter().any(|x| x.contains(&format!("faultline accept {id}"))), "{:?}", r.reasons);

    // Alice (a senior) wrote it after the push of the head, on the second page (GitLab's
    // `x-next-page`): accepted, by her, from the note; not blocking.
    let notes = vec![
        (
            NOTES.into(),
            200,
            vec![("x-next-page".into(), "2".into())],
            json!([note("bob", false, "2024-05-01T11:05:00Z", "LGTM")]),
        ),
        (
            format!("{NOTES}&page=2"),
            200,
            vec![("x-next-page".into(), "".into())],
            json!([note("Alice", false, "2024-05-01T11:10:00.123Z", &accept)]),
        ),
    ];
    let (r, host) = judged_with_gitlab(&head, pushed.clone(), notes);
    assert_eq!(r.decision, Decision::Allow, "{:?}", r.reasons);
    let accepted = r.exploration[0].ran[0].accepted.as_ref().expect("accepted");
    assert_eq!((accepted.by.as_str(), accepted.source.clone()), ("@alice", format!("GitLab note of {}", &head[..10])));
    assert!(
        r.reasons.iter().any(|x| x.contains("is accepted by @alice (GitLab note of bbbbbbbbbb), not blocking")),
        "{:?}",
        r.reasons
    );
    assert_eq!(host.seen.lock().unwrap().iter().filter(|(p, _)| p.starts_with(NOTES)).count(), 2);

    // Written before a later push: about code the note never saw. Not counted.
    let before = vec![(NOTES.into(), 200, vec![], json!([note("alice", false, "2024-05-01T10:30:00Z", &accept)]))];
    let (r, _) = judged_with_gitlab(&head, pushed.clone(), before);
    assert_eq!(r.decision, Decision::Block, "{:?}", r.reasons);
    assert!(r.exploration[0].ran[0].accepted.is_none());

    // The newest version is another commit (a push GitLab has not made the head yet, or a
    // later one): nothing written counts, even after the head's version.
    let later = json!([version(3, &earlier, "2024-05-01T12:00:00Z"), version(2, &head, "2024-05-01T11:00:00Z")]);
    let after = vec![(NOTES.into(), 200, vec![], json!([note("alice", false, "2024-05-01T12:30:00Z", &accept)]))];
    let (r, _) = judged_with_gitlab(&head, later, after);
    assert_eq!(r.decision, Decision::Block, "{:?}", r.reasons);

    // GitLab's own note in Alice's name, and a note by Bob, who is no senior: not accepted,
    // and Bob's is said not to count.
    let others = vec![(
        NOTES.into(),
        200,
        vec![],
        json!([
            note("alice", true, "2024-05-01T11:05:00Z", &accept),
            note("bob", false, "2024-05-01T11:06:00Z", &accept)
        ]),
    )];
    let (r, _) = judged_with_gitlab(&head, pushed, others);
    assert_eq!(r.decision, Decision::Block, "{:?}", r.reasons);
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains(&format!("the acceptance of {id} by @bob (GitLab note of bbbbbbbbbb) does not count"))),
        "{:?}",
        r.reasons
    );
    assert!(!r.reasons.iter().any(|x| x.contains("by @alice")), "{:?}", r.reasons);
}

#[test]
fn each_area_needs_its_own_senior() {
    let config = CONFIG.replace(
        "  seniors: [\"@alice\"]\n",
        "  seniors: [\"@alice\"]\n  owners:\n    - { paths: [\"db/**\"], seniors: [\"@dba\", \"dora@shop.example\"] }\n  codeowners: true\n",
    );
    let r = TestRepo::relay(
        &config,
        &[],
        &[("api/main.txt", "v1\n"), ("db/main.txt", "v1\n"), (".github/CODEOWNERS", "/api/ @apiteam-lead\n")],
    );
    r.write("api/main.txt", "v2\n");
    r.write("db/main.txt", "v2\n");
    r.commit("api and db");
    let plan = r.plan_json(&["--base", "main"]);
    let areas: Vec<String> =
        plan["signoff_areas"].as_array().unwrap().iter().map(|a| a["area"].as_str().unwrap().to_owned()).collect();
    assert_eq!(areas, [".github/CODEOWNERS:1: /api/", "policy.owners[0]: db/**"], "{plan}");
    // Alice is a senior, but of neither area.
    let (code, v, text) = gate(&r, &["--approved-by", "@alice"], &[]);
    assert_eq!(code, 1, "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains(".github/CODEOWNERS:1: /api/ (api/main.txt; one of @apiteam-lead)"), "{reasons}");
    // The db area alone is not enough.
    let (code, _, _) = gate(&r, &["--approved-by", "Dora <dora@shop.example>"], &[]);
    assert_eq!(code, 1);
    let (code, v, text) = gate(&r, &["--approved-by", "dora@shop.example", "--approved-by", "@APITeam-Lead"], &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["areas"][0]["by"], "@apiteam-lead");
    // The change cannot name itself an owner: CODEOWNERS is read from the base.
    r.write(".github/CODEOWNERS", "* @mallory\n");
    r.commit("own everything");
    let (code, _, text) = gate(&r, &["--approved-by", "@mallory"], &[]);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn the_pull_request_that_adopts_faultline_is_shown_not_enforced() {
    let r = TestRepo::new();
    r.write("api/main.txt", "v1\n");
    r.commit("before faultline");
    r.git(&["checkout", "-q", "-b", "adopt"]);
    let relay = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/relay");
    for f in ["Dockerfile", "relay.py"] {
        r.write(format!("images/relay/{f}"), std::fs::read(relay.join(f)).unwrap());
    }
    r.write("faultline.yaml", CONFIG);
    r.write("scenarios/api-up.yaml", "target: api\nwhy: api answers.\nsteps:\n  - request: GET api /health\n");
    r.commit("adopt faultline");
    // Without the flag: could not verify, and the message says how to adopt.
    let (code, _, text) = gate(&r, &[], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--adopting"), "{text}");
    // With it: what would run, and nothing enforced yet.
    let (code, _, text) = gate(&r, &["--adopting"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("NOT ENFORCED YET"), "{text}");
    assert!(text.contains("api"), "{text}");
    // An adoption whose configuration is broken is not waved through.
    r.write("faultline.yaml", CONFIG.replace("ports: [8080]", "ports: [eighty]"));
    r.commit("typo");
    let (code, _, text) = gate(&r, &["--adopting"], &[]);
    assert_eq!(code, 2, "{text}");
    // Once the base has a configuration, --adopting changes nothing: the base gates.
    let (r2, _) = repo(CONFIG);
    let (code, _, text) = gate(&r2, &["--adopting"], &[]);
    assert_eq!(code, 1, "the base's sign-off rule still applies:\n{text}");
}

#[test]
fn a_remote_docker_engine_is_refused_with_the_reason_not_a_timeout() {
    let config = CONFIG.replace("    high: { scenarios: none, signoff: seniors }", "    high: { scenarios: all }");
    let smoke = "target: api\nwhy: api answers.\nsteps:\n  - request: GET api /health\n";
    let r = TestRepo::relay(&config, &[("api-up", smoke)], &[("api/main.txt", "v1\n"), ("db/main.txt", "v1\n")]);
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    let (code, v, text) = gate(&r, &[], &[("DOCKER_HOST", "tcp://docker:2375")]);
    assert_eq!(code, 2, "{text}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("DOCKER_HOST is tcp://docker:2375: a Docker Engine on another machine"), "{reasons}");
}

/// Sharded, the approvals are read once, by the step that decides: `report merge` reads the
/// pull request's reviews itself; the shards do not ask the host, and an approval a shard
/// recorded does not count.
#[test]
fn report_merge_reads_the_approvals_itself_and_the_shards_do_not() {
    let (r, head) = repo(CONFIG);
    let tmp = tempfile::tempdir().unwrap();
    let ev = event(tmp.path(), &head, &[], "dev");
    let reviews = "/repos/shop/app/pulls/7/reviews?per_page=100".to_owned();
    let approved = fake_host(vec![(reviews.clone(), 200, vec![], json!([review("alice", "APPROVED", &head)]))]);
    let env = github_env(&approved, &ev);
    let mut dirs = Vec::new();
    for k in 1..=2 {
        let dir = tmp.path().join(format!("shard-{k}"));
        let share = format!("{k}/2");
        let mut args = vec!["gate", "--base", "main", "--seed", "1", "--partition", &share];
        args.extend(["--report", dir.to_str().unwrap()]);
        let out = r.faultline_env(&args, &env);
        assert_eq!(out.status.code(), Some(0), "a shard leaves the sign-off to the merge: {}", common::stderr(&out));
        dirs.push(dir);
    }
    assert!(approved.seen.lock().unwrap().is_empty(), "a shard read the code host");
    let merge = |env: &[(&str, &str)], extra: &[&str]| {
        let out_dir = tmp.path().join("merged");
        let mut args = vec!["report", "merge", dirs[0].to_str().unwrap(), dirs[1].to_str().unwrap()];
        args.extend(["--out", out_dir.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = r.faultline_env(&args, env);
        let v: Value = serde_json::from_slice(&std::fs::read(out_dir.join("verdict.json")).unwrap()).unwrap();
        (out.status.code().unwrap_or(-1), v, common::stderr(&out))
    };
    let (code, v, text) = merge(&env, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["approvals"][0]["source"], format!("GitHub review of {}", &head[..10]));
    assert_eq!(approved.seen.lock().unwrap().len(), 1, "read once, by the merge");
    // Without the host, nobody approved: blocked.
    assert_eq!(merge(&[], &[]).0, 1);
    // A host that cannot be read: the missing sign-off is unjudged.
    let down = fake_host(vec![(reviews, 502, vec![], json!({"message": "bad gateway"}))]);
    let (code, v, _) = merge(&github_env(&down, &ev), &[]);
    assert_eq!(code, 2, "{v}");
    // A shard's recorded approval (even one that names the host) does not count.
    let file = dirs[0].join("verdict.json");
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    forged["signoff"]["approvals"] =
        json!([{"who": "@alice", "source": format!("GitHub review of {}", &head[..10]), "senior": true}]);
    std::fs::write(&file, forged.to_string()).unwrap();
    assert_eq!(merge(&[], &[]).0, 1);
}
