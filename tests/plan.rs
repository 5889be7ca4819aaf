//! `faultline plan` end to end on real git repositories: the JSON contract, renames,
//! deletions, merges, provenance, tiers, global paths, base-revision config, and bad input.

mod common;

use common::{TestRepo, affected, stderr, strings};
use serde_json::json;

#[test]
fn modified_payments_file_affects_dependents_with_reason_chains() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/payments/src/main.rs", "fn main() { charge(); charge(); }\n");
    repo.commit("Charge faster");

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["changed"], json!([{"path": "services/payments/src/main.rs", "status": "modified"}]));
    assert_eq!(plan["ai_assisted"], false);
    assert_eq!(plan["tier"], "high");
    assert_eq!(plan["tier_reason"]["path"], "services/payments/src/main.rs");
    assert_eq!(plan["tier_reason"]["rule"], "glob");
    assert_eq!(plan["tier_reason"]["glob"], "services/payments/**");
    assert_eq!(
        affected(&plan),
        vec![
            ("orders".to_owned(), vec!["depends_on".to_owned()]),
            ("payments".to_owned(), vec!["owns".to_owned()]),
            ("web".to_owned(), vec!["depends_on".to_owned()]),
        ]
    );
    let web = &plan["affected"][2]["reasons"][0];
    assert_eq!(web["chain"], json!(["orders", "payments"]));
    assert_eq!(web["path"], "services/payments/src/main.rs");
    // Forward closure of {payments, orders, web}, dependencies first.
    assert_eq!(strings(&plan["stack"]), ["postgres", "redis", "payments", "orders", "web"]);
    assert_eq!(plan["stack_levels"], json!([["postgres", "redis"], ["payments"], ["orders"], ["web"]]));
    // High tier, not AI-assisted: policy.gate.high = affected + seniors.
    assert_eq!(strings(&plan["scenarios"]), ["payments-slow", "postgres-paused", "web-smoke"]);
    assert_eq!(plan["signoff_required"], true);
    assert_eq!(plan["gate"]["source"], "policy.gate.high");

    let text = String::from_utf8(repo.faultline(&["plan", "--base", "main"]).stdout).unwrap();
    assert!(
        text.contains(
            "web       depends on orders, which depends on payments, which owns services/payments/src/main.rs"
        ),
        "{text}"
    );
}

#[test]
fn rename_is_reported_with_old_path_and_both_owners() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.git(&["mv", "services/orders/src/retry.rs", "services/web/retry.rs"]);
    repo.commit("Move retry to web");

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(
        plan["changed"],
        json!([{"path": "services/web/retry.rs", "status": "renamed", "old_path": "services/orders/src/retry.rs"}])
    );
    // The old path still belongs to orders; the new one to web.
    let a = affected(&plan);
    assert_eq!(a[0], ("orders".to_owned(), vec!["owns".to_owned()]));
    assert_eq!(a[1], ("web".to_owned(), vec!["owns".to_owned(), "depends_on".to_owned()]));
    assert_eq!(plan["tier"], "medium");
}

#[test]
fn deleted_path_still_belongs_to_its_owner() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.remove("services/payments/migrations/001.sql");
    repo.commit("Drop old migration");

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["changed"], json!([{"path": "services/payments/migrations/001.sql", "status": "deleted"}]));
    assert_eq!(affected(&plan)[1].0, "payments");
    assert_eq!(plan["tier_reason"]["glob"], "services/payments/**");
}

#[test]
fn copy_of_a_modified_file_is_detected() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    let body = std::fs::read_to_string(repo.path.join("services/orders/src/retry.rs")).unwrap();
    repo.write("services/orders/src/retry.rs", format!("{body}// tweak\n"));
    repo.write("services/web/retry_copy.rs", &body);
    repo.commit("Copy retry");

    let plan = repo.plan_json(&["--base", "main"]);
    let copy = plan["changed"].as_array().unwrap().iter().find(|c| c["path"] == "services/web/retry_copy.rs").unwrap();
    assert_eq!(copy["status"], "copied");
    assert_eq!(copy["old_path"], "services/orders/src/retry.rs");
}

#[test]
fn merge_of_base_into_branch_counts_only_the_branch_changes() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/web/index.html", "<html>new</html>\n");
    repo.commit("Web tweak");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("services/payments/src/main.rs", "fn main() { /* main moved on */ }\n");
    repo.commit("Payments on main");
    repo.git(&["checkout", "-q", "feat"]);
    repo.git(&["merge", "-q", "--no-edit", "main"]);

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["changed"], json!([{"path": "services/web/index.html", "status": "modified"}]));
    assert_eq!(strings(&plan["stack"]), ["postgres", "redis", "payments", "orders", "web"]);
    assert_eq!(affected(&plan).len(), 1);
    assert_eq!(plan["tier"], "medium");
}

#[test]
fn ai_trailers_authors_and_labels_are_evidence_per_commit() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/orders/src/main.rs", "fn main() { order(); order(); }\n");
    let c1 = repo
        .commit("Faster orders\n\nCo-authored-by: Claude <noreply@anthropic.com>\nReviewed-by: Bob <bob@shop.example>");
    repo.write("services/orders/src/b.rs", "x\n");
    let c2 = repo.commit_as("dependabot[bot] <bot@example.com>", "Bump");
    repo.write("services/orders/src/c.rs", "y\n");
    repo.commit("Plain human commit");

    let plan = repo.plan_json(&["--base", "main", "--label", "ai-assisted", "--label", "unrelated"]);
    assert_eq!(plan["ai_assisted"], true);
    assert_eq!(
        plan["ai_evidence"],
        json!([
            {"commit": c2, "kind": "author", "value": "dependabot[bot] <bot@example.com>"},
            {"commit": c1, "kind": "trailer", "value": "Co-authored-by: Claude <noreply@anthropic.com>"},
            {"commit": null, "kind": "label", "value": "ai-assisted"},
        ])
    );
    // Medium tier, AI-assisted: policy.ai_gate.medium asks for a senior.
    assert_eq!(plan["tier"], "medium");
    assert_eq!(plan["gate"]["source"], "policy.ai_gate.medium");
    assert_eq!(plan["signoff_required"], true);
}

#[test]
fn what_todays_agents_write_marks_a_change_ai_assisted() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    const DEV: &str = "Dev <dev@shop.example>";
    // (author, message, the evidence it must give: None for what is no agent's)
    let commits: &[(&str, &str, Option<&str>)] = &[
        (
            DEV,
            "Droid\n\nCo-authored-by: factory-droid[bot] <138933559+factory-droid[bot]@users.noreply.github.com>",
            Some("Co-authored-by: factory-droid[bot] <138933559+factory-droid[bot]@users.noreply.github.com>"),
        ),
        (DEV, "Warp\n\nCo-Authored-By: Warp <agent@warp.dev>", Some("Co-Authored-By: Warp <agent@warp.dev>")),
        (DEV, "Oz\n\nCo-Authored-By: Oz <oz-agent@warp.dev>", Some("Co-Authored-By: Oz <oz-agent@warp.dev>")),
        (
            DEV,
            "Qwen\n\nCo-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>",
            Some("Co-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>"),
        ),
        (
            DEV,
            "Checkpoint\n\nReplit-Commit-Author: Agent\nReplit-Commit-Session-Id: 1f2e",
            Some("Replit-Commit-Author: Agent"),
        ),
        (
            "gpt-engineer-app[bot] <159125892+gpt-engineer-app[bot]@users.noreply.github.com>",
            "Changes",
            Some("gpt-engineer-app[bot] <159125892+gpt-engineer-app[bot]@users.noreply.github.com>"),
        ),
        (
            DEV,
            "Apply suggestion\n\nCo-authored-by: coderabbitai[bot] <136622811+coderabbitai[bot]@users.noreply.github.com>",
            Some("Co-authored-by: coderabbitai[bot] <136622811+coderabbitai[bot]@users.noreply.github.com>"),
        ),
        (
            DEV,
            "Crush\n\n💘 Generated with Crush\n\nCo-Authored-By: Crush <crush@charm.land>",
            Some("Co-Authored-By: Crush <crush@charm.land>"),
        ),
        (DEV, "Grok\n\nCo-Authored-By: Grok <noreply@x.ai>", Some("Co-Authored-By: Grok <noreply@x.ai>")),
        (
            "codegen-sh[bot] <131295404+codegen-sh[bot]@users.noreply.github.com>",
            "Codegen",
            Some("codegen-sh[bot] <131295404+codegen-sh[bot]@users.noreply.github.com>"),
        ),
        // Not agents: a person called Oz, Replit's own deploy commit, another bot.
        (DEV, "Pairing\n\nCo-authored-by: Oz Cohen <oz@shop.example>", None),
        (DEV, "Deploy\n\nReplit-Commit-Author: Deployment", None),
        ("renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>", "Bump", None),
    ];
    let mut ids = Vec::new();
    for (i, (author, message, _)) in commits.iter().enumerate() {
        repo.write(format!("docs/agent-{i}.md"), format!("{i}\n"));
        ids.push(repo.commit_as(author, message));
    }
    // The pull request itself opened by an agent's app.
    let tmp = tempfile::tempdir().unwrap();
    let event = tmp.path().join("event.json");
    std::fs::write(&event, json!({"pull_request": {"user": {"login": "lovable-dev[bot]"}, "labels": []}}).to_string())
        .unwrap();
    let out = repo.faultline_env(
        &["plan", "--base", "main", "--format", "json"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", event.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["ai_assisted"], true);
    assert_eq!(plan["ai_rule"], "evidence");
    let evidence = plan["ai_evidence"].as_array().unwrap();
    for ((_, message, want), id) in commits.iter().zip(&ids) {
        let found: Vec<&str> =
            evidence.iter().filter(|e| e["commit"] == id.as_str()).map(|e| e["value"].as_str().unwrap()).collect();
        match want {
            Some(w) => assert!(found.contains(w), "{message:?}: {found:?}"),
            None => assert!(found.is_empty(), "{message:?} is no agent's: {found:?}"),
        }
    }
    assert!(
        evidence.iter().any(|e| e["commit"].is_null() && e["value"] == "pull request opened by @lovable-dev[bot]"),
        "{evidence:?}"
    );
    assert!(evidence.iter().any(|e| e["kind"] == "marker" && e["value"] == "Generated with Crush"), "{evidence:?}");
}

#[test]
fn assume_makes_every_change_ai_assisted_and_the_plan_says_which_rule_decided() {
    let change = |assume: bool| {
        let repo = TestRepo::shop();
        if assume {
            let config = common::SHOP_CONFIG
                .replace("    authors: [\"^dependabot\"]\n", "    authors: [\"^dependabot\"]\n    assume: true\n");
            assert_ne!(config, common::SHOP_CONFIG);
            repo.write("faultline.yaml", config);
            repo.commit("Every change may be AI-assisted");
        }
        repo.git(&["checkout", "-q", "-b", "feat"]);
        repo.write("services/orders/src/main.rs", "fn main() { order(); order(); }\n");
        repo.commit("A commit that says nothing of how it was written");
        repo
    };
    let plain = change(false).plan_json(&["--base", "main"]);
    assert_eq!(plain["ai_assisted"], false);
    assert_eq!(plain["ai_rule"], "no evidence");
    assert_eq!(plain["gate"]["source"], "policy.gate.medium");
    assert_eq!(plain["signoff_required"], false);

    let repo = change(true);
    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["ai_assisted"], true);
    assert_eq!(plan["ai_rule"], "policy.ai_assisted.assume");
    assert_eq!(plan["ai_evidence"], json!([]));
    // policy.ai_gate.medium, not policy.gate.medium: a senior signs off.
    assert_eq!(plan["gate"]["source"], "policy.ai_gate.medium");
    assert_eq!(plan["signoff_required"], true);
    let out = repo.faultline(&["plan", "--base", "main"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("AI-assisted  yes (policy.ai_assisted.assume: every change counts as AI-assisted)"),
        "{text}"
    );
}

#[test]
fn faultline_labels_env_marks_change_ai_assisted() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("docs/guide.md", "# Guide v2\n");
    repo.commit("Docs");

    let plain = repo.plan_json(&["--base", "main"]);
    assert_eq!(plain["ai_assisted"], false);
    assert_eq!(plain["tier"], "low");
    assert_eq!(plain["scenarios"], json!([]));

    let out = repo
        .faultline_env(&["plan", "--base", "main", "--format", "json"], &[("FAULTLINE_LABELS", "docs, ai-assisted")]);
    let labelled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(labelled["ai_assisted"], true);
    // policy.ai_gate.low selects affected scenarios; a docs change affects no service.
    assert_eq!(labelled["gate"]["source"], "policy.ai_gate.low");
    assert_eq!(labelled["affected"], json!([]));
    assert_eq!(labelled["stack"], json!([]));
}

#[test]
fn global_path_affects_every_service_and_is_high_tier() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("Cargo.lock", "# lock v2\n");
    repo.commit("Update lockfile");

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["tier"], "high");
    assert_eq!(plan["tier_reason"]["rule"], "global");
    let names: Vec<String> = affected(&plan).into_iter().map(|(s, _)| s).collect();
    assert_eq!(names, ["orders", "payments", "postgres", "redis", "web"]);
    assert_eq!(plan["affected"][2]["reasons"], json!([{"kind": "global", "path": "Cargo.lock", "glob": "Cargo.lock"}]));
}

#[test]
fn config_and_scenarios_come_from_the_base_revision() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    // The change tries to weaken its own gate and delete a scenario.
    let weakened =
        common::SHOP_CONFIG.replace("high:   { scenarios: affected, signoff: seniors }", "high:   { scenarios: none }");
    repo.write("faultline.yaml", weakened);
    repo.remove("scenarios/payments-slow.yaml");
    repo.write("services/payments/src/main.rs", "fn main() {}\n");
    repo.commit("Simplify");

    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["config"]["from"], "revision");
    assert_eq!(plan["config"]["rev"], "main");
    assert_eq!(plan["tier"], "high");
    assert_eq!(plan["tier_reason"]["path"], "faultline.yaml");
    assert_eq!(plan["tier_reason"]["rule"], "config");
    // The deleted scenario still runs; the base's policy still asks for sign-off.
    assert!(strings(&plan["scenarios"]).contains(&"payments-slow".to_owned()));
    assert_eq!(plan["signoff_required"], true);

    // Authoring mode reads the working tree, and says so.
    let authored = repo.plan_json(&["--base", "main", "--config-from", "worktree"]);
    assert_eq!(authored["config"]["from"], "worktree");
    assert_eq!(authored["scenarios"], json!([]));
    let text =
        String::from_utf8(repo.faultline(&["plan", "--base", "main", "--config-from", "worktree"]).stdout).unwrap();
    assert!(text.contains("from the working tree (--config-from worktree)"), "{text}");
}

#[test]
fn a_change_to_a_scenario_is_high_tier() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("scenarios/web-smoke.yaml", "target: web\nwhy: changed\n");
    repo.commit("Tune scenario");
    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["tier"], "high");
    assert_eq!(plan["tier_reason"]["rule"], "scenarios");
    assert_eq!(plan["tier_reason"]["dir"], "scenarios");
}

#[test]
fn empty_diff_says_nothing_changed() {
    let repo = TestRepo::shop();
    let out = repo.faultline(&["plan", "--base", "main"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed"));
    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["changed"], json!([]));
    assert_eq!(plan["tier"], json!(null));
    assert_eq!(plan["scenarios"], json!([]));
    assert_eq!(plan["signoff_required"], false);
}

#[test]
fn worktree_includes_untracked_files_binaries_spaces_and_non_utf8_names() {
    let repo = TestRepo::shop();
    repo.write("services/orders/src/main.rs", "fn main() { changed(); }\n");
    repo.write("services/orders/assets/logo v2.png", [0x89u8, b'P', b'N', b'G', 0, 0, 0xff, 0xfe, 0]);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"services/web/caf\xe9.txt");
        repo.write(name, "menu\n");
    }
    let plan = repo.plan_json(&["--worktree"]);
    assert_eq!(plan["head"], json!(null));
    let changed: Vec<(String, String)> = plan["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect();
    assert!(changed.contains(&("services/orders/assets/logo v2.png".into(), "added".into())), "{changed:?}");
    assert!(changed.contains(&("services/orders/src/main.rs".into(), "modified".into())), "{changed:?}");
    #[cfg(unix)]
    assert!(changed.contains(&("services/web/caf\\xe9.txt".into(), "added".into())), "{changed:?}");
    let names: Vec<String> = affected(&plan).into_iter().map(|(s, _)| s).collect();
    assert_eq!(names, ["orders", "web"]);
}

#[test]
fn committed_binary_and_non_utf8_paths_are_planned() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/payments/blob.bin", [0u8, 1, 2, 3, 255, 0, 7]);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        repo.write(std::ffi::OsStr::from_bytes(b"docs/r\xe9sum\xe9.md"), "x\n");
    }
    repo.commit("Binary and odd names");
    let plan = repo.plan_json(&["--base", "main"]);
    let paths: Vec<String> =
        plan["changed"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap().to_owned()).collect();
    assert!(paths.contains(&"services/payments/blob.bin".to_owned()));
    #[cfg(unix)]
    assert!(paths.contains(&"docs/r\\xe9sum\\xe9.md".to_owned()), "{paths:?}");
    assert_eq!(plan["tier"], "high");
}

#[test]
fn shallow_clone_without_merge_base_is_a_clear_error() {
    let origin = TestRepo::shop();
    for i in 0..3 {
        origin.write("docs/guide.md", format!("# Guide {i}\n"));
        origin.commit(&format!("docs {i}"));
    }
    origin.git(&["checkout", "-q", "-b", "feat", "HEAD~3"]);
    origin.write("services/web/index.html", "<html>feat</html>\n");
    origin.commit("feat");
    origin.git(&["checkout", "-q", "main"]);

    let clone = TestRepo::new();
    let url = format!("file://{}", origin.path.display());
    std::fs::remove_dir_all(&clone.path).unwrap();
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--no-single-branch", &url])
        .arg(&clone.path)
        .status()
        .unwrap();
    assert!(status.success());
    clone.git(&["checkout", "-q", "feat"]);

    let out = clone.faultline(&["plan", "--base", "origin/main"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no merge base between `origin/main` and `HEAD` in this shallow clone"), "{err}");
    assert!(err.contains("fetch-depth: 0"), "{err}");
}

#[test]
fn missing_config_says_how_to_create_one() {
    let repo = TestRepo::new();
    repo.write("README.md", "x\n");
    repo.commit("init");
    let out = repo.faultline(&["plan", "--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no faultline.yaml in the base revision `HEAD`"), "{err}");
    assert!(err.contains("create faultline.yaml at the repository root"), "{err}");
}

#[test]
fn unknown_base_revision_and_non_repository_exit_2() {
    let repo = TestRepo::shop();
    let out = repo.faultline(&["plan", "--base", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("revision `no-such-branch` does not exist"), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["-C"])
        .arg(dir.path())
        .args(["plan", "--base", "main"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not inside a git repository"), "{}", stderr(&out));
}

#[test]
fn dash_c_runs_as_if_started_in_the_repository() {
    let repo = TestRepo::shop();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/web/index.html", "<html>2</html>\n");
    repo.commit("web");
    let sub = repo.path.join("services");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("-C")
        .arg(&sub)
        .args(["plan", "--base", "main", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changed"][0]["path"], "services/web/index.html");
}

// CODEOWNERS means what the code host means.

/// One service; every path is high tier, which runs nothing and needs a sign-off; owners
/// come from CODEOWNERS.
const OWNED: &str = r#"version: 1
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
  codeowners: true
"#;

/// A repository with `files` on `main`, each of them changed on the branch `change`.
fn owned_change(files: &[(&str, &str)], changed: &[&str]) -> TestRepo {
    let r = TestRepo::relay(OWNED, &[], files);
    for p in changed {
        r.write(p, "changed\n");
    }
    r.commit("change");
    r
}

/// The areas of the plan that hold `path`: `(area, seniors, approvals)`.
fn areas_of(plan: &serde_json::Value, path: &str) -> Vec<(String, Vec<String>, u64)> {
    plan["signoff_areas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["paths"].as_array().unwrap().iter().any(|p| p == path))
        .map(|a| (a["area"].as_str().unwrap().to_owned(), strings(&a["seniors"]), a["approvals"].as_u64().unwrap_or(1)))
        .collect()
}

fn area(name: &str, seniors: &[&str]) -> (String, Vec<String>, u64) {
    (name.to_owned(), seniors.iter().map(|s| (*s).to_owned()).collect(), 1)
}

#[test]
fn github_codeowners_patterns_mean_what_github_means() {
    let codeowners =
        "* @lead\n/docs/* @writer\n/apps/ @octocat\n/apps/github\nPython/ceval*.[ch] @ceval\n!api/ @nobody\n";
    let paths = ["docs/top.md", "docs/guide/deep.md", "apps/web/y.c", "apps/github/x.c", "Python/ceval.c", "api/a.txt"];
    let files: Vec<(&str, &str)> =
        std::iter::once((".github/CODEOWNERS", codeowners)).chain(paths.map(|p| (p, "v1\n"))).collect();
    let r = owned_change(&files, &paths);
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(areas_of(&plan, "docs/top.md"), [area(".github/CODEOWNERS:2: /docs/*", &["@writer"])]);
    // `/docs/*` owns the files directly in docs/ only.
    assert_eq!(areas_of(&plan, "docs/guide/deep.md"), [area(".github/CODEOWNERS:1: *", &["@lead"])]);
    assert_eq!(areas_of(&plan, "apps/web/y.c"), [area(".github/CODEOWNERS:3: /apps/", &["@octocat"])]);
    // A line without owners leaves the path to the seniors, as a path no line matches.
    assert_eq!(areas_of(&plan, "apps/github/x.c"), [area("policy.seniors", &["@lead"])]);
    // GitHub skips `[ ]` ranges and `!`: the earlier lines keep those paths.
    assert_eq!(areas_of(&plan, "Python/ceval.c"), [area(".github/CODEOWNERS:1: *", &["@lead"])]);
    assert_eq!(areas_of(&plan, "api/a.txt"), [area(".github/CODEOWNERS:1: *", &["@lead"])]);
    assert_eq!(plan["codeowners"]["path"], ".github/CODEOWNERS", "{plan}");
    assert_eq!(plan["codeowners"]["host"], "github");
    let skipped = strings(&plan["codeowners"]["skipped"]);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].starts_with(".github/CODEOWNERS:5: Python/ceval*.[ch] @ceval: `[ ]`"), "{skipped:?}");
    assert!(skipped[1].starts_with(".github/CODEOWNERS:6: !api/ @nobody: `!`"), "{skipped:?}");
    let text = String::from_utf8_lossy(&r.faultline(&["plan", "--base", "main"]).stdout).into_owned();
    assert!(text.contains("codeowners   .github/CODEOWNERS read by GitHub's rules"), "{text}");
    assert!(text.contains("one of @writer for .github/CODEOWNERS:2: /docs/* (docs/top.md)"), "{text}");
}

/// GitLab's file, with a `.github/CODEOWNERS` GitLab never reads.
const GITLAB_CODEOWNERS: &str =
    "* @admin\n\n[Docs] @docs-team\ndocs/\n\n^[Go]\n*.go @gophers\n\n[Database][2] @dba1 @dba2\nmodel/db/\n";

fn gitlab_repo(extra: &[(&str, &str)]) -> TestRepo {
    let paths = ["docs/a.md", "model/db/x.sql", "cmd/x.go"];
    let mut files = vec![("CODEOWNERS", GITLAB_CODEOWNERS), (".github/CODEOWNERS", "* @mallory\n")];
    files.extend(paths.map(|p| (p, "v1\n")));
    files.extend_from_slice(extra);
    owned_change(&files, &paths)
}

#[test]
fn gitlab_codeowners_sections_each_apply_with_their_defaults_optional_and_approval_counts() {
    let r = gitlab_repo(&[]);
    let out = r.faultline_env(&["plan", "--base", "main", "--format", "json"], &[("GITLAB_CI", "true")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every section applies; the section's default owners own its entries.
    assert_eq!(
        areas_of(&plan, "docs/a.md"),
        [area("CODEOWNERS:1: *", &["@admin"]), area("CODEOWNERS:4: [Docs] docs/", &["@docs-team"])]
    );
    // `[Database][2]`: two of its owners.
    assert_eq!(
        areas_of(&plan, "model/db/x.sql"),
        [
            area("CODEOWNERS:1: *", &["@admin"]),
            ("CODEOWNERS:10: [Database] model/db/".to_owned(), vec!["@dba1".to_owned(), "@dba2".to_owned()], 2)
        ]
    );
    // `^[Go]` is optional: only the unnamed section's owner.
    assert_eq!(areas_of(&plan, "cmd/x.go"), [area("CODEOWNERS:1: *", &["@admin"])]);
    assert!(!plan.to_string().contains("mallory"), "GitLab reads the root's CODEOWNERS, never .github/'s");
    assert_eq!(plan["codeowners"]["path"], "CODEOWNERS", "{plan}");
    assert_eq!(plan["codeowners"]["host"], "gitlab");
    assert!(plan["codeowners"]["host_from"].as_str().unwrap().contains("GITLAB_CI"), "{plan}");

    // Outside CI, the base's .gitlab-ci.yml says GitLab; without it, GitHub's rules (and its file).
    let r = gitlab_repo(&[(".gitlab-ci.yml", "test:\n  script: [true]\n")]);
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!((&plan["codeowners"]["host"], &plan["codeowners"]["path"]), (&json!("gitlab"), &json!("CODEOWNERS")));
    assert!(plan["codeowners"]["host_from"].as_str().unwrap().contains(".gitlab-ci.yml"), "{plan}");
    let r = gitlab_repo(&[]);
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(
        (&plan["codeowners"]["host"], &plan["codeowners"]["path"]),
        (&json!("github"), &json!(".github/CODEOWNERS"))
    );
    assert_eq!(areas_of(&plan, "docs/a.md"), [area(".github/CODEOWNERS:1: *", &["@mallory"])]);
}

/// `[Database][2]` needs two of its owners besides the unnamed section's: the gate's sign-off
/// counts them (no Docker: the rule runs no scenario).
#[test]
fn a_gitlab_section_that_needs_two_approvals_needs_two() {
    let r = TestRepo::relay(OWNED, &[], &[("CODEOWNERS", GITLAB_CODEOWNERS), ("model/db/x.sql", "v1\n")]);
    r.write("model/db/x.sql", "v2\n");
    r.commit("schema");
    let gate = |who: &[&str]| {
        let mut args = vec!["gate", "--base", "main"];
        for w in who {
            args.extend(["--approved-by", w]);
        }
        r.with_report(&args, &[("GITLAB_CI", "true")])
    };
    let (code, v, text) = gate(&["@admin", "@dba1"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        v["reasons"].to_string().contains("CODEOWNERS:10: [Database] model/db/ (model/db/x.sql; 2 of @dba1, @dba2)"),
        "{v}"
    );
    let (code, v, text) = gate(&["@admin", "@dba1", "@DBA2"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["areas"][1]["by"], "@dba1, @dba2", "{v}");
    // The unnamed section's owner is needed too.
    assert_eq!(gate(&["@dba1", "@dba2"]).0, 1);
}

#[test]
fn the_rule_of_the_tier_says_what_an_edge_exploration_did_not_exercise_means() {
    let repo = TestRepo::new();
    let config = common::SHOP_CONFIG
        .replace(
            "high:   { scenarios: affected, signoff: seniors }",
            "high:   { scenarios: affected, explore: true, unexercised: unverified }",
        )
        // policy.unclaimed widens a rule to its own `unexercised`.
        .replace(
            "  seniors: [\"alice@shop.example\"]",
            "  seniors: [\"alice@shop.example\"]\n  unclaimed: { scenarios: affected, unexercised: unverified }",
        );
    repo.write("faultline.yaml", &config);
    repo.write("scenarios/smoke.yaml", "target: orders\n");
    repo.write("services/payments/src/main.rs", "fn main() {}\n");
    repo.write("services/orders/src/main.rs", "fn main() {}\n");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/orders/src/main.rs", "fn main() { changed(); }\n");
    repo.commit("medium");
    let plan = repo.plan_json(&["--base", "main"]);
    let rule = |p: &serde_json::Value| {
        (p["tier"].as_str().map(str::to_owned), p["gate"]["unexercised"].as_str().map(str::to_owned))
    };
    assert_eq!(rule(&plan), (Some("medium".into()), Some("warn".into())), "{plan}");
    repo.write("services/payments/src/main.rs", "fn main() { changed(); }\n");
    repo.commit("high");
    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(rule(&plan), (Some("high".into()), Some("unverified".into())), "{plan}");
    let out = repo.faultline(&["plan", "--base", "main"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("an edge not exercised is could not verify"), "{text}");
    // A medium change with a path nothing claims: policy.unclaimed's `unverified` widens it.
    repo.git(&["checkout", "-q", "-b", "unclaimed", "main"]);
    repo.write("services/orders/src/main.rs", "fn main() { changed(); }\n");
    repo.write("tools/x.sh", "echo\n");
    repo.commit("medium and unclaimed");
    let plan = repo.plan_json(&["--base", "main"]);
    assert_eq!(plan["gate"]["unexercised"], "unverified", "{plan}");
}

/// Two services whose builds read more than their `paths`: orders compiles in the SQL under
/// `docs/` (declared in `inputs`), web is built from a context with a `.dockerignore`.
const BUILD_READS: &str = r#"version: 1
services:
  orders:
    paths: ["services/orders/src/**"]
    inputs: ["docs/*.sql", "shared/**"]
    image: "orders:1"
  web:
    paths: ["services/web/src/**"]
    build: services/web
policy:
  tiers:
    low: ["docs/**"]
  gate:
    low: { scenarios: affected }
    medium: { scenarios: affected }
  unclaimed: { scenarios: none, signoff: seniors }
  seniors: ["@lead"]
scenarios: scenarios/
"#;

fn build_reads(changed: &[(&str, &str)]) -> serde_json::Value {
    let repo = TestRepo::new();
    repo.write("faultline.yaml", BUILD_READS);
    repo.write("scenarios/orders.yaml", "target: orders\n");
    repo.write("scenarios/web.yaml", "target: web\n");
    for f in ["docs/schema.sql", "docs/guide.md", "shared/money/lib.rs", "services/orders/src/main.rs"] {
        repo.write(f, "base\n");
    }
    repo.write("services/web/Dockerfile", "FROM scratch\nCOPY . /srv\n");
    repo.write("services/web/.dockerignore", "# notes stay out of the image\nnotes\n*.md\n!README.md\n/tmp\n");
    for f in ["services/web/src/index.html", "services/web/notes/todo.txt", "services/web/CHANGES.md"] {
        repo.write(f, "base\n");
    }
    repo.write("services/web/README.md", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "change"]);
    for (path, text) in changed {
        repo.write(path, text);
    }
    repo.commit("change");
    repo.plan_json(&["--base", "main"])
}

/// A file compiled in from outside the service's `paths` (a SQL file under docs/, a shared
/// crate) affects it when its `inputs` name it, with the reason; before `inputs`, the plan
/// selected nothing for such a change (docs/ is a low-tier glob nobody owns).
#[test]
fn a_file_a_service_build_reads_makes_it_affected_with_the_reason() {
    let plan = build_reads(&[("docs/schema.sql", "create table orders (id int, total int);\n")]);
    assert_eq!(affected(&plan), vec![("orders".to_owned(), vec!["read_by_build".to_owned()])]);
    let reason = &plan["affected"][0]["reasons"][0];
    assert_eq!(reason["path"], "docs/schema.sql");
    assert_eq!(reason["service"], "orders");
    assert_eq!(reason["source"], "services.orders.inputs \"docs/*.sql\"");
    assert_eq!(plan["tier"], "low", "at the tier of the file");
    assert_eq!(strings(&plan["scenarios"]), ["orders"]);
    assert_eq!(plan["unclaimed"], json!([]));

    let plan = build_reads(&[("shared/money/lib.rs", "pub fn round() {}\n")]);
    assert_eq!(affected(&plan), vec![("orders".to_owned(), vec!["read_by_build".to_owned()])]);
    assert_eq!(plan["affected"][0]["reasons"][0]["source"], "services.orders.inputs \"shared/**\"");
    assert_eq!(plan["tier"], "medium");

    // A file no build reads stays out of every service.
    let plan = build_reads(&[("docs/guide.md", "# Guide, longer\n")]);
    assert_eq!(affected(&plan), vec![]);
    assert_eq!(strings(&plan["scenarios"]), Vec::<String>::new());
}

#[test]
fn the_plan_text_says_which_build_reads_the_file() {
    let repo = TestRepo::new();
    repo.write("faultline.yaml", BUILD_READS);
    repo.write("scenarios/orders.yaml", "target: orders\n");
    repo.write("docs/schema.sql", "base\n");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "change"]);
    repo.write("docs/schema.sql", "changed\n");
    repo.commit("change");
    let out = repo.faultline(&["plan", "--base", "main"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("docs/schema.sql is read by the build of orders (services.orders.inputs \"docs/*.sql\")"),
        "{text}"
    );
}

/// A file of a build context that its `.dockerignore` leaves out cannot reach the image, so
/// it does not affect the service through the context (here nothing else claims it: it is
/// unclaimed); a file an exception takes back, the Dockerfile and the `.dockerignore` do.
#[test]
fn a_file_the_dockerignore_leaves_out_of_the_context_does_not_affect_the_service() {
    for excluded in ["services/web/notes/todo.txt", "services/web/CHANGES.md", "services/web/tmp/x"] {
        let plan = build_reads(&[(excluded, "changed\n")]);
        assert_eq!(affected(&plan), vec![], "{excluded}");
        assert_eq!(strings(&plan["unclaimed"]), [excluded]);
    }
    for included in [
        "services/web/README.md",
        "services/web/Dockerfile",
        "services/web/.dockerignore",
        "services/web/nginx.conf",
        "services/web/docs/notes/x",
    ] {
        let plan = build_reads(&[(included, "changed\n")]);
        assert_eq!(affected(&plan), vec![("web".to_owned(), vec!["builds".to_owned()])], "{included}");
        assert_eq!(plan["affected"][0]["reasons"][0]["path"], included);
        assert_eq!(plan["unclaimed"], json!([]), "{included}");
    }
    // A change that edits the .dockerignore to leave a file out, and changes that file too,
    // affects the service through the .dockerignore: it is always part of the context.
    let plan = build_reads(&[
        ("services/web/.dockerignore", "notes\n*.md\nconfig.js\n"),
        ("services/web/config.js", "changed\n"),
    ]);
    assert_eq!(affected(&plan), vec![("web".to_owned(), vec!["builds".to_owned()])]);
    assert_eq!(plan["affected"][0]["reasons"][0]["path"], "services/web/.dockerignore");
}
