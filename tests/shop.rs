//! The example shop end to end, on the real engine: the gate runs every shop scenario
//! against the correct shop and allows it, and blocks a plausible AI-written bug at the
//! check that guards against it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Shares compiled dependencies of the shop between tests and runs.
fn cargo_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shop")
}

fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@shop.example"])
        .args(args)
        .current_dir(repo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// The shop with one change on branch `change`, made by `edit`.
fn shop_with_change(dir: &Path, message: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let (root, _) = faultline::demo::create_shop(dir).unwrap();
    git(&root, &["checkout", "-q", "-b", "change"]);
    edit(&root);
    git(&root, &["commit", "-q", "-am", message]);
    root
}

fn gate(root: &Path) -> (i32, Value, String) {
    let report = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "gate",
            "--base",
            "main",
            "--seed",
            "11",
            "--approved-by",
            "alice@shop.example",
            "--explore-budget",
            "20s",
        ])
        .arg("--report")
        .arg(report.path())
        .current_dir(root)
        .env("CARGO_TARGET_DIR", cargo_target())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v = std::fs::read(report.path().join("verdict.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, text)
}

fn scenario<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name} in {v}"))
}

fn edit_orders(root: &Path, from: &str, to: &str) {
    let p = root.join("services/orders/src/main.rs");
    let src = std::fs::read_to_string(&p).unwrap();
    assert!(src.contains(from), "the shop changed: `{from}` not found");
    std::fs::write(&p, src.replace(from, to)).unwrap();
}

#[test]
fn the_correct_shop_passes_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let root = shop_with_change(
        dir.path(),
        "Tidy the orders service\n\nCo-authored-by: Claude <noreply@anthropic.com>",
        |root| {
            edit_orders(
                root,
                "const CACHE_TIMEOUT: Duration = Duration::from_millis(200);",
                "const CACHE_TIMEOUT: Duration = Duration::from_millis(200); // Redis is optional",
            );
        },
    );
    let (code, v, text) = gate(&root);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["decision"], "allow");
    // An AI-assisted change to a medium-tier path: policy.ai_gate.medium selects the
    // scenarios of the affected services, which here is all of them but the two that
    // target payments alone (postgres-paused, postgres-restart).
    let names: Vec<&str> = v["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["charge-reply-lost", "last-item-race", "payments-down", "payments-flaky", "payments-slow", "redis-down"]
    );
    for s in v["scenarios"].as_array().unwrap() {
        assert_eq!(s["status"], "passed", "{}", s);
    }
    // The numbers behind the passes.
    let slow = scenario(&v, "payments-slow");
    let attempts = slow["checks"][1]["observed"].as_str().unwrap();
    assert!(attempts.starts_with("3 attempts"), "orders retries three times against a slow payments: {attempts}");
    let lost = scenario(&v, "charge-reply-lost");
    let edge = &lost["edges"]["orders -> payments"]["requests"];
    assert_eq!(edge[0]["outcome"], "dropped", "{edge}");
    assert_eq!(edge[1]["attempt"], 2, "the retry carried the same idempotency key: {edge}");
    assert_eq!(lost["checks"][1]["observed"], "`1`", "one charge");
    let race = scenario(&v, "last-item-race");
    assert_eq!(race["checks"][0]["observed"], "`1`", "exactly one paid order for the last item");
}

#[test]
fn a_new_idempotency_key_per_attempt_is_blocked_as_a_double_charge() {
    let dir = tempfile::tempdir().unwrap();
    let root = shop_with_change(
        dir.path(),
        "Use a fresh key per charge attempt\n\nCo-authored-by: Claude <noreply@anthropic.com>",
        |root| {
            edit_orders(
                root,
                "match self.charge_once(&key, order_id, amount).await {",
                "match self.charge_once(&format!(\"{key}-{attempt}\"), order_id, amount).await {",
            );
        },
    );
    let (code, v, text) = gate(&root);
    assert_eq!(code, 1, "{text}");
    let lost = scenario(&v, "charge-reply-lost");
    assert_eq!(lost["status"], "failed");
    assert_eq!(lost["checks"][1]["observed"], "`2`", "charged twice: {lost}");
    assert!(text.contains("INC-2310"), "the why is quoted: {text}");
}
