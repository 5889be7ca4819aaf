//! The second example system, end to end on the real engine: a Python app faultline did not
//! write, with form posts, a login cookie, captured ids, host and port as separate variables
//! and a database named in its checks. The gate allows it as it is and blocks a plausible
//! change that breaks what its scenarios guarantee.

mod common;

use std::path::Path;

use common::TestRepo;
use serde_json::Value;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "__pycache__" {
                copy_dir(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The newsletter and the database and cache images, committed on `main`.
fn newsletter() -> TestRepo {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let r = TestRepo::new();
    copy_dir(&fixtures.join("newsletter"), &r.path);
    for image in ["postgres", "redis"] {
        copy_dir(&fixtures.join("images").join(image), &r.path.join("images").join(image));
    }
    r.commit("newsletter");
    r
}

fn change(r: &TestRepo, branch: &str, from: &str, to: &str) {
    r.git(&["checkout", "-q", "main"]);
    r.git(&["checkout", "-q", "-b", branch]);
    let p = r.path.join("services/newsletter/app.py");
    let src = std::fs::read_to_string(&p).unwrap();
    assert!(src.contains(from), "the newsletter changed: `{from}` not found");
    std::fs::write(&p, src.replace(from, to)).unwrap();
    r.commit(branch);
}

fn gate(r: &TestRepo) -> (i32, Value, String) {
    r.with_report(&["gate", "--base", "main", "--seed", "5", "--approved-by", "@editor-in-chief"], &[])
}

fn status_of(v: &Value) -> Vec<(String, String)> {
    v["scenarios"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| (s["name"].as_str().unwrap_or("").to_owned(), s["status"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_newsletter_passes_its_scenarios_and_a_harmful_change_is_blocked() {
    let root = newsletter();

    // A harmless change: every scenario runs (the app is high tier) and passes.
    change(&root, "wording", "wrong username or password", "unknown username or wrong password");
    let (code, v, text) = gate(&root);
    assert_eq!(code, 0, "{text}");
    let mut got = status_of(&v);
    got.sort();
    let want: Vec<(String, String)> =
        ["database-paused", "email-api-down", "email-api-flaky", "email-api-slow", "sessions-down", "subscribe"]
            .iter()
            .map(|n| ((*n).to_owned(), "passed".to_owned()))
            .collect();
    assert_eq!(got, want, "{text}");
    // The login's cookie was sent back and the captured id read back: the flow reached its
    // last request, and the row is in the app's own database.
    let subscribe = v["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "subscribe").unwrap();
    assert_eq!(subscribe["steps"][2]["step"], "GET newsletter /subscriptions/{id}");
    assert_eq!(subscribe["steps"][2]["passed"], true, "{subscribe}");
    assert_eq!(subscribe["checks"][0]["observed"], "`confirmation-sent`", "{subscribe}");

    // "Simplify the email call": no timeout. The slow email API now holds subscriptions
    // for 5 s.
    change(&root, "no-timeout", "urlopen(req, timeout=EMAIL_TIMEOUT)", "urlopen(req)");
    let (code, v, text) = gate(&root);
    assert_eq!(code, 1, "{text}");
    let failed: Vec<String> = status_of(&v).into_iter().filter(|(_, s)| s == "failed").map(|(n, _)| n).collect();
    assert!(failed.contains(&"email-api-slow".to_owned()), "{failed:?}\n{text}");

    // "Retry the email call": the API takes no idempotency key, so a retry may send twice.
    // The calls carry no request id either: the bound is on every request that crossed.
    change(
        &root,
        "retry",
        "    try:\n        with urllib.request.urlopen(req, timeout=EMAIL_TIMEOUT) as resp:\n            return 200 <= resp.status < 300\n    except (urllib.error.URLError, OSError, ValueError) as e:\n        print(f\"email for subscription {sub_id} pending: {e}\", flush=True)\n        return False\n",
        "    for _ in range(3):\n        try:\n            with urllib.request.urlopen(req, timeout=EMAIL_TIMEOUT) as resp:\n                return 200 <= resp.status < 300\n        except (urllib.error.URLError, OSError, ValueError) as e:\n            print(f\"email for subscription {sub_id} pending: {e}\", flush=True)\n    return False\n",
    );
    let (code, v, text) = gate(&root);
    assert_eq!(code, 1, "{text}");
    let flaky = v["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "email-api-flaky").unwrap();
    assert_eq!(flaky["status"], "failed", "{flaky}");
    let bound = flaky["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().unwrap().contains("at most 3 requests"))
        .unwrap();
    assert_eq!(
        (bound["passed"].as_bool(), bound["observed"].as_str()),
        (Some(false), Some("5 requests (2 met a fault)")),
        "{bound}"
    );

    // "Let errors surface": a Redis error is no longer a 503.
    change(
        &root,
        "raise",
        "        raise Unavailable(f\"sessions: {e}\")\n        self.reply(200",
        "        raise\n        self.reply(200",
    );
    let (code, v, text) = gate(&root);
    assert_eq!(code, 1, "{text}");
    let failed: Vec<String> = status_of(&v).into_iter().filter(|(_, s)| s == "failed").map(|(n, _)| n).collect();
    assert_eq!(failed, ["sessions-down"], "{text}");
}

/// `faultline explore --service newsletter` on the newsletter as it ships: its declared
/// workload (a form login whose session cookie the next requests carry, a subscription, the
/// subscription read back by its captured id and agreeing with its row in PostgreSQL), its
/// invariants, liveness and readiness hold under the whole catalogue on its three edges but
/// saturation, which this test leaves to the benchmark (`FAULTLINE_BENCH_EXPLORE=newsletter
/// cargo bench --bench explore`, which runs every class and prints what failed).
///
/// Saturation (the email API slow, the workload 16 then 64 at once) finds a real weakness
/// of the app, not of its declaration: Python's `http.server` listens with a backlog of 5
/// (`socketserver`'s `request_queue_size`), so at 64 at once connections wait for SYN
/// retries and some logins (which never call the email API) and `/health` probes are not
/// answered in time. How many depends on the machine; the gate, which runs it on the base
/// too, reports it as a known weakness. It was also the heaviest part of this test (64
/// requests at once on a 2-core machine running the suite beside it).
#[test]
fn the_newsletter_passes_its_exploration() {
    let root = newsletter();
    let every_class_but_saturation: Vec<&str> =
        faultline::config::FAULT_CLASSES.iter().copied().filter(|c| *c != "saturation").collect();
    let config = std::fs::read_to_string(root.path.join("faultline.yaml")).unwrap();
    root.write("faultline.yaml", common::only(&config, &every_class_but_saturation.join(", ")));
    root.commit("every class but saturation");
    let report = tempfile::tempdir().unwrap();
    let out = root.faultline(&[
        "explore",
        "--service",
        "newsletter",
        "--seed",
        "5",
        "--budget",
        "30m",
        "--report",
        report.path().to_str().unwrap(),
    ]);
    let text = common::output(&out);
    let json: Value = serde_json::from_slice(&std::fs::read(report.path().join("explore.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let x = &json[0];
    let mut edges = common::strings(&x["edges"]);
    edges.sort();
    assert_eq!(edges, ["newsletter -> mailer", "newsletter -> postgres", "newsletter -> redis"], "{text}");
    assert_eq!(x["unexplored"].as_array().map_or(0, Vec::len), 0, "{text}");
    let ran = x["ran"].as_array().cloned().unwrap_or_default();
    assert!(ran.len() > 40, "{} experiments\n{text}", ran.len());
    let not_passed: Vec<(String, String)> = ran
        .iter()
        .filter(|r| r["outcome"]["status"] != "passed")
        .map(|r| {
            (r["class"].as_str().unwrap_or("").to_owned(), r["outcome"]["status"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(not_passed, [] as [(String, String); 0], "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let outcome = |name: &str| {
        ran.iter().find(|r| r["outcome"]["name"] == name).map(|r| r["outcome"].clone()).unwrap_or(Value::Null)
    };
    // The email API refusing: the subscription is stored and pending (202), and the read
    // back agrees with the row.
    let down = outcome("explore-newsletter-newsletter-mailer-down-seq");
    assert_eq!(down["status"], "passed", "{down}");
    assert!(down["steps"][1]["observed"].as_str().is_some_and(|o| o.contains("202")), "{down}");
    let agreed =
        down["checks"].as_array().unwrap().iter().any(|c| {
            c["check"].as_str().is_some_and(|c| c.contains("agree with sql on postgres")) && c["passed"] == true
        });
    assert!(agreed, "{down}");
    // PostgreSQL refusing: nothing stored (503), no id captured, the read not sent.
    let pg = outcome("explore-newsletter-newsletter-postgres-down-seq");
    assert_eq!(pg["status"], "passed", "{pg}");
    assert!(pg["steps"][2]["observed"].as_str().is_some_and(|o| o.starts_with("not sent")), "{pg}");
}
