//! Reports are bound to their run: verdict.json and every shard carry the base and head
//! object ids, the digests of the base's configuration and scenarios and of the plan, and the
//! shard's index and count; `report merge` refuses shards that disagree, repeat, or are of
//! another run, naming the shard and the field; the gate writes no report into the checkout,
//! and every way out of the gate writes a verdict.json with its reason. Through the binary,
//! on real repositories; no Docker (the rule runs no scenario).

mod common;

use std::path::{Path, PathBuf};

use common::TestRepo;
use serde_json::{Value, json};

/// Every change needs a senior and runs nothing.
const CONFIG: &str = r#"version: 1
services:
  api:
    paths: ["api/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
policy:
  tiers:
    high: ["**"]
  gate:
    high: { scenarios: none, signoff: seniors }
  seniors: ["@lead"]
"#;

fn repo() -> TestRepo {
    let r = TestRepo::relay(CONFIG, &[], &[("api/main.txt", "v1\n")]);
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    r
}

/// `faultline gate --partition K/N` of `r` with `extra`, its report in `dir`; its exit code.
fn shard(r: &TestRepo, dir: &Path, share: &str, extra: &[&str]) -> i32 {
    let mut args =
        vec!["gate", "--base", "main", "--seed", "3", "--partition", share, "--report", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = r.faultline(&args);
    out.status.code().unwrap_or(-1)
}

fn read(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("verdict.json")).unwrap()).unwrap()
}

fn write(dir: &Path, v: &Value) {
    std::fs::write(dir.join("verdict.json"), v.to_string()).unwrap();
}

/// `faultline report merge SHARDS --out OUT EXTRA`: the exit code, the verdict.json written
/// (`null` when none) and all output.
fn merge(r: &TestRepo, out: &Path, shards: &[&PathBuf], extra: &[&str]) -> (i32, Value, String) {
    let _ = std::fs::remove_dir_all(out);
    let mut args = vec!["report", "merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let o = r.faultline(&args);
    let v = std::fs::read(out.join("verdict.json")).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, format!("{}{}", String::from_utf8_lossy(&o.stdout), common::stderr(&o)))
}

/// A change to a shard's verdict.json.
type Edit = fn(&mut Value);

#[test]
fn shards_carry_their_run_and_report_merge_refuses_shards_of_another_or_edited_run() {
    let r = repo();
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("shard-1"), tmp.path().join("shard-2"));
    // A shard records the approval it was handed; the sign-off is the merge's to judge.
    assert_eq!(shard(&r, &one, "1/2", &["--approved-by", "@lead"]), 0);
    assert_eq!(shard(&r, &two, "2/2", &[]), 0);
    let v = read(&one);
    assert_eq!(v["run"]["base"], r.git(&["rev-parse", "main"]), "{v}");
    assert_eq!(v["run"]["head"], r.git(&["rev-parse", "HEAD"]));
    for digest in ["config_digest", "plan_digest"] {
        let d = v["run"][digest].as_str().unwrap();
        assert!(d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()), "{digest}: {d}");
    }
    assert_eq!(v["partition"], json!({"index": 1, "count": 2}));
    assert!(v["reasons"].to_string().contains("judged by `faultline report merge`"), "{v}");
    let junit = std::fs::read_to_string(two.join("junit.xml")).unwrap();
    assert!(!junit.contains("<failure"), "a shard fails no sign-off: {junit}");
    let summary = std::fs::read_to_string(two.join("summary.md")).unwrap();
    assert!(summary.contains("| sign-off | judged by `faultline report merge` |"), "{summary}");
    let out = tmp.path().join("merged");

    // The approvals the shards recorded do not count; the merge's own do.
    let (code, v, text) = merge(&r, &out, &[&one, &two], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(v["reasons"].to_string().contains("sign-off is required and missing"), "{v}");
    assert_eq!(merge(&r, &out, &[&one, &two], &["--approved-by", "@lead"]).0, 0);
    // Told which run: the shards must be of it.
    let ok = merge(&r, &out, &[&one, &two], &["--approved-by", "@lead", "--base", "main", "--head", "change"]);
    assert_eq!(ok.0, 0, "{}", ok.2);
    let (code, v, text) =
        merge(&r, &out, &[&one, &two], &["--approved-by", "@lead", "--base", "main", "--head", "main"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is of another run: its run.head is"), "{text}");
    assert_eq!(v["decision"], "unverified", "a refusal is a verdict too: {v}");
    assert!(v["reasons"].to_string().contains("run.head"), "{v}");

    // Edited after the gate: each field named, with the shard.
    let edited = tmp.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    let cases: [(&str, Edit); 5] = [
        ("run.config_digest", |v| v["run"]["config_digest"] = json!("0".repeat(64))),
        ("run.base", |v| v["run"]["base"] = json!("f".repeat(40))),
        ("seed", |v| v["seed"] = json!(4)),
        ("partition.count", |v| v["partition"] = json!({"index": 2, "count": 3})),
        ("not the digest of the plan it carries", |v| v["plan"]["signoff_required"] = json!(false)),
    ];
    for (field, edit) in cases {
        let mut v = read(&two);
        edit(&mut v);
        write(&edited, &v);
        let (code, _, text) = merge(&r, &out, &[&one, &edited], &["--approved-by", "@lead"]);
        assert_eq!(code, 2, "{field}: {text}");
        assert!(text.contains(field) && text.contains(edited.to_str().unwrap()), "{field}: {text}");
    }
    // A plan edited together with its digest is another run's plan.
    let mut v = read(&two);
    v["plan"]["signoff_required"] = json!(false);
    let typed: faultline::plan::Plan = serde_json::from_value(v["plan"].clone()).unwrap();
    v["run"]["plan_digest"] = json!(faultline::outcome::plan_digest(&typed));
    write(&edited, &v);
    let (code, _, text) = merge(&r, &out, &[&one, &edited], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("run.plan_digest is"), "{text}");
    // A shard bound to no run.
    let mut v = read(&two);
    v.as_object_mut().unwrap().remove("run");
    write(&edited, &v);
    let (code, _, text) = merge(&r, &out, &[&one, &edited], &["--approved-by", "@lead"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is bound to no run"), "{text}");
    // The same shard twice.
    let (code, _, text) = merge(&r, &out, &[&one, &one], &["--approved-by", "@lead"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("shard 1 is given twice (partition.index)"), "{text}");
    // A shard of the same share of another head.
    r.write("api/main.txt", "v3\n");
    r.commit("another head");
    let later = tmp.path().join("later-2");
    assert_eq!(shard(&r, &later, "2/2", &[]), 0);
    let (code, _, text) = merge(&r, &out, &[&one, &later], &["--approved-by", "@lead"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("run.head is"), "{text}");
    // A missing shard: could not verify, naming it.
    let (code, v, _) = merge(&r, &out, &[&one], &["--approved-by", "@lead"]);
    assert_eq!(code, 2);
    assert!(v["reasons"].to_string().contains("shard 2/2 is missing"), "{v}");
}

#[test]
fn an_unsharded_verdict_is_bound_to_its_run_too() {
    let r = repo();
    let (code, v, text) = r.with_report(&["gate", "--base", "main", "--approved-by", "@lead"], &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["run"]["head"], r.git(&["rev-parse", "HEAD"]), "{v}");
    assert!(v["partition"].is_null());
}

#[test]
fn the_gate_refuses_a_report_directory_inside_the_checkout() {
    let r = repo();
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(r.path.join("api"), tmp.path().join("link")).unwrap();
    let root = r.path.display().to_string();
    let parent = r.path.parent().unwrap().display().to_string();
    let dotdot = format!("{parent}/nothing-here/../repo/reports");
    let via_link = tmp.path().join("link/reports").display().to_string();
    for dir in ["faultline-report", "api/../out", &format!("{root}/deep/new"), &dotdot, &via_link] {
        let out = r.faultline(&["gate", "--base", "main", "--approved-by", "@lead", "--report", dir]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{dir}: {err}");
        assert!(err.contains("is inside the checkout"), "{dir}: {err}");
        assert!(!err.contains("faultline gate: main"), "nothing ran: {err}");
    }
    for made in ["faultline-report", "out", "deep", "api/reports"] {
        assert!(!r.path.join(made).exists(), "{made} was created");
    }
    // Outside, the gate runs.
    let out = r.faultline(&["gate", "--base", "main", "--approved-by", "@lead", "--report", outside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(outside.join("verdict.json").exists());
}

#[test]
fn every_way_out_of_the_gate_writes_a_verdict_with_its_reason() {
    // A pull request that adopts faultline with a configuration that cannot gate anything.
    let r = TestRepo::new();
    r.write("README.md", "# app\n");
    r.commit("base without faultline");
    r.git(&["checkout", "-q", "-b", "adopt"]);
    r.write("faultline.yaml", "version: 1\nservices:\n  api:\n    bild: x\n");
    r.commit("adopt faultline");
    let (code, v, text) = r.with_report(&["gate", "--base", "main", "--adopting"], &[]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(v["decision"], "unverified", "{text}");
    assert!(v["reasons"].to_string().contains("--adopting"), "{v}");
    // Its base cannot be resolved.
    let (code, v, text) = r.with_report(&["gate", "--base", "no-such-branch", "--adopting"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(v["reasons"].to_string().contains("no-such-branch"), "{v}");
    // A valid configuration: shown, not enforced, and said so in the verdict.
    r.write("faultline.yaml", CONFIG);
    r.commit("a valid one");
    let (code, v, text) = r.with_report(&["gate", "--base", "main", "--adopting"], &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["decision"], "allow");
    assert!(v["reasons"].to_string().contains("NOT ENFORCED YET"), "{v}");

    // A base whose faultline.yaml is binary, and a revision that does not exist.
    let r = TestRepo::new();
    r.write("faultline.yaml", b"version: 1\n\x00\xff\xfe".as_slice());
    r.commit("binary config");
    r.write("a.txt", "x\n");
    r.commit("change");
    let (code, v, text) = r.with_report(&["gate", "--base", "HEAD~1"], &[]);
    assert_eq!((code, &v["decision"]), (2, &json!("unverified")), "{text}");
    assert!(v["reasons"].to_string().contains("faultline.yaml"), "{v}");
    let (code, v, _) = r.with_report(&["gate", "--base", "nope"], &[]);
    assert_eq!((code, &v["decision"]), (2, &json!("unverified")));

    // CI's event file cannot be read.
    let r = repo();
    let env = [("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", "/nonexistent/event.json")];
    let (code, v, text) = r.with_report(&["gate", "--base", "main"], &env);
    assert_eq!(code, 2, "{text}");
    assert!(v["reasons"].to_string().contains("GITHUB_EVENT_PATH"), "{v}");
}
