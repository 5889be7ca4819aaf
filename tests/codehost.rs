//! The code host reaches the gate: labels and the author from GitHub's event file and
//! GitLab's variables, approvals from their APIs (a local server that speaks them, over real
//! HTTP), seniors per area from `policy.owners` and CODEOWNERS. Through the binary; no
//! Docker (the rules here run no scenario).

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

#[test]
fn a_gitlab_approval_counts_while_the_merge_request_head_is_the_commit_under_test() {
    let (r, head) = repo(CONFIG);
    let routes = |sha: &str| {
        vec![
            ("/api/v4/projects/42/merge_requests/3".into(), 200, vec![], json!({"iid": 3, "sha": sha})),
            (
                "/api/v4/projects/42/merge_requests/3/approvals".into(),
                200,
                vec![],
                json!({"approved_by": [{"user": {"username": "alice"}}]}),
            ),
        ]
    };
    let host = fake_host(routes(&head));
    let api = format!("{}/api/v4", host.url);
    let env = [
        ("GITLAB_CI", "true"),
        ("CI_MERGE_REQUEST_IID", "3"),
        ("CI_PROJECT_ID", "42"),
        ("CI_API_V4_URL", api.as_str()),
        ("CI_COMMIT_SHA", head.as_str()),
        ("CI_MERGE_REQUEST_LABELS", "bug,ai-assisted"),
        ("FAULTLINE_GITLAB_TOKEN", "glpat-test"),
    ];
    let (code, v, text) = gate(&r, &[], &env);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["approvals"][0]["source"], format!("GitLab approval of {}", &head[..10]));
    assert!(v["plan"]["ai_evidence"].to_string().contains("ai-assisted"), "{v}");
    let seen = host.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, h)| h.iter().any(|(k, v)| k == "private-token" && v == "glpat-test")), "{seen:?}");
    // The merge request moved on: its approvals are not about this commit.
    let moved = fake_host(routes("0123456789abcdef0123456789abcdef01234567"));
    let api = format!("{}/api/v4", moved.url);
    let mut env2 = env;
    env2[3] = ("CI_API_V4_URL", api.as_str());
    let (code, _, text) = gate(&r, &[], &env2);
    assert_eq!(code, 1, "{text}");
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
