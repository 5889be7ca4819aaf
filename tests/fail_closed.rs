//! Every way a change was seen getting itself allowed, or the gate crashing, tried through
//! the real binary on real repositories. Each test failed on the gate before these holes
//! were closed.

mod common;

use common::TestRepo;
use serde_json::{Value, json};

/// Two relay services; the high tier needs a senior and runs no scenario, so a verdict
/// needs no Docker unless a test asks for scenarios.
const CONFIG: &str = r#"version: 1
services:
  db:
    paths: ["db/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: db }
  api:
    paths: ["api/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api }
    depends_on:
      db: { env: DB_URL, url: "http://{host}:{port}" }
policy:
  tiers:
    high: ["api/**"]
    medium: ["db/**"]
    low: ["**/*.md", "docs/**"]
  gate:
    high: { scenarios: none, signoff: seniors }
    medium: { scenarios: none }
    low: { scenarios: none }
  seniors: ["alice@shop.example"]
"#;

const SMOKE: &str = r#"name: api-smoke
target: api
why: api answers its health check.
steps:
  - request: GET api /health
    expect: { status: [200] }
"#;

fn repo(config: &str) -> TestRepo {
    TestRepo::relay(
        config,
        &[("api-smoke", SMOKE)],
        &[("api/main.txt", "api v1\n"), ("db/main.txt", "db v1\n"), ("README.md", "# repo\n")],
    )
}

/// `faultline gate` with a report; returns the exit code, verdict.json and all output.
fn gate(r: &TestRepo, extra: &[&str]) -> (i32, Value, String) {
    gate_env(r, extra, &[])
}

fn gate_env(r: &TestRepo, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    r.with_report(&[&["gate", "--base", "main", "--seed", "3"], extra].concat(), env)
}

fn reasons(v: &Value) -> String {
    v["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

// 1. Self-approval.

#[test]
fn an_approval_trailer_written_by_the_change_does_not_count() {
    let r = repo(CONFIG);
    r.write("api/main.txt", "api v2\n");
    r.commit("api change\n\nReviewed-by: Alice <alice@shop.example>\nApproved-by: alice@shop.example");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 1, "a trailer in the change is no sign-off:\n{text}");
    assert_eq!(v["signoff"]["satisfied"], false);
    assert_eq!(v["signoff"]["ignored"].as_array().unwrap().len(), 2);
    assert!(reasons(&v).contains("ignored: `Reviewed-by: Alice <alice@shop.example>`"), "{}", reasons(&v));
    assert!(reasons(&v).contains("written by the change itself"), "{}", reasons(&v));
    // The same change, approved from outside it, is allowed.
    let (code, v, text) = gate(&r, &["--approved-by", "Alice <alice@shop.example>"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["signoff"]["approvals"][0]["source"], "--approved-by");
}

// 2. The gate's own files, build contexts, prepare scripts, toolchain files.

#[test]
fn toolchain_and_gate_files_are_high_tier_affect_everything_and_need_a_senior() {
    for path in [".cargo/config.toml", "rust-toolchain.toml", ".github/workflows/ci.yml", "sub/.cargo/config"] {
        let r = repo(CONFIG);
        r.write(path, "[build]\nrustflags = [\"--cfg\", \"x\"]\n");
        r.commit("build tweak");
        let plan = r.plan_json(&["--base", "main"]);
        assert_eq!(plan["tier"], "high", "{path}");
        assert_eq!(plan["tier_reason"]["rule"], "protected", "{path}");
        assert_eq!(plan["signoff_required"], true, "{path}");
        assert_eq!(common::strings(&plan["protected"]), [path]);
        let affected: Vec<String> = common::affected(&plan).into_iter().map(|(s, _)| s).collect();
        assert_eq!(affected, ["api", "db"], "{path}");
        let (code, v, text) = gate(&r, &[]);
        assert_eq!(code, 1, "{path}:\n{text}");
        assert_eq!(v["signoff"]["satisfied"], false);
    }
    // faultline.yaml and the scenarios directory: the same, even though nothing lists them.
    let r = repo(CONFIG);
    r.write("scenarios/api-smoke.yaml", SMOKE.replace("[200]", "[200, 500]"));
    r.commit("relax the smoke test");
    let (code, _, text) = gate(&r, &[]);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn a_service_owns_its_build_context_and_its_prepare_script() {
    let config = CONFIG.replace(
        "    env: { SERVICE_NAME: db }\n",
        "    env: { SERVICE_NAME: db }\n    prepare: ./tools/build-db.sh --release\n",
    ) + "isolation: {}\n";
    let r = repo(&config);
    r.write("images/relay/Dockerfile", "FROM debian:bookworm-slim\nRUN echo changed\n");
    r.commit("base image");
    let plan = r.plan_json(&["--base", "main"]);
    let a = common::affected(&plan);
    // Both are built from images/relay; api also depends on db.
    assert_eq!(
        a,
        [
            ("api".to_owned(), vec!["builds".to_owned(), "depends_on".to_owned()]),
            ("db".to_owned(), vec!["builds".to_owned()])
        ]
    );
    assert!(common::strings(&plan["unclaimed"]).is_empty());

    let r = repo(&config);
    r.write("tools/build-db.sh", "#!/bin/sh\necho built\n");
    r.commit("build script");
    let plan = r.plan_json(&["--base", "main"]);
    let a = common::affected(&plan);
    assert_eq!(a[1], ("db".to_owned(), vec!["builds".to_owned()]));
    assert_eq!(a[0], ("api".to_owned(), vec!["depends_on".to_owned()]), "api depends on db");
    // A prepare script runs on the CI host: high tier, whatever the globs say.
    assert_eq!(plan["tier"], "high");
    assert_eq!(plan["tier_reason"]["rule"], "prepare");
}

// 3. Unclaimed paths.

#[test]
fn a_path_nothing_claims_fails_closed() {
    let r = repo(CONFIG);
    r.write("tools/deploy.py", "print('hi')\n");
    r.commit("a tool");
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(common::strings(&plan["unclaimed"]), ["tools/deploy.py"]);
    // The default: every scenario and a senior's sign-off.
    assert_eq!(plan["gate"]["scenarios"], "all");
    assert_eq!(plan["signoff_required"], true);
    assert!(plan["gate"]["source"].as_str().unwrap().contains("policy.unclaimed default"), "{}", plan["gate"]);
    let text = String::from_utf8(r.faultline(&["plan", "--base", "main"]).stdout).unwrap();
    assert!(text.contains("unclaimed    1 path") && text.contains("  tools/deploy.py"), "{text}");

    // A policy that asks only for the sign-off: blocked without it (no scenario needed).
    let r = repo(&CONFIG.replace("  seniors:", "  unclaimed: { scenarios: none, signoff: seniors }\n  seniors:"));
    r.write("tools/deploy.py", "print('hi')\n");
    r.commit("a tool");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["signoff"]["required"], true);
}

// 4. Scenarios that are not there.

#[test]
fn a_missing_or_empty_scenarios_directory_cannot_allow() {
    let config = CONFIG.replace("    medium: { scenarios: none }\n", "    medium: { scenarios: all }\n");
    for (dir_key, what) in [("scenarios: scenario/\n", "typo"), ("scenarios: nothing-here/\n", "missing")] {
        let r = repo(&format!("{config}{dir_key}"));
        r.write("db/main.txt", "db v2\n");
        r.commit("db change");
        let (code, v, text) = gate(&r, &[]);
        assert_eq!(code, 2, "{what}:\n{text}");
        assert!(reasons(&v).contains("holds no scenario file"), "{what}: {}", reasons(&v));
    }
    // `.YAML` is a scenario file too.
    let r = repo(&config);
    std::fs::rename(r.path.join("scenarios/api-smoke.yaml"), r.path.join("scenarios/API-SMOKE.YAML")).unwrap();
    r.commit("upper case");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["reset", "-q", "--hard", "change"]);
    r.git(&["checkout", "-q", "-b", "change2"]);
    r.write("db/main.txt", "db v2\n");
    r.commit("db change");
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(common::strings(&plan["scenarios"]), ["api-smoke"]);
}

// 5. Checks that cannot fail.

#[test]
fn a_scenario_that_exercises_nothing_or_cannot_fail_is_rejected_at_lint() {
    let r = repo(CONFIG);
    r.write("scenarios/empty.yaml", "target: api\nwhy: nothing\n");
    r.write("scenarios/sleepy.yaml", "target: api\nwhy: nothing\nsteps:\n  - sleep: 1s\n");
    r.write(
        "scenarios/lax.yaml",
        "target: api\nwhy: lax\nsteps:\n  - request: GET api /call\n    expect: { error_rate: 100% }\n",
    );
    r.write(
        "scenarios/forever.yaml",
        "target: api\nwhy: x\nfaults:\n  - on: api -> db\n    latency: 1s\n    at: 18446744073709551615s\nsteps:\n  - request: GET api /call\n",
    );
    let out = r.faultline(&["scenario", "lint"]);
    let text = common::stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("scenarios/empty.yaml:1:1: this scenario exercises nothing"), "{text}");
    assert!(text.contains("scenarios/sleepy.yaml:3:1: this scenario exercises nothing"), "{text}");
    assert!(text.contains("scenarios/lax.yaml:5:27: an error rate bound of 100% cannot fail"), "{text}");
    assert!(text.contains("scenarios/forever.yaml:") && text.contains("longer than a day"), "{text}");
}

#[test]
fn a_bound_on_an_edge_no_request_crossed_is_unverified_not_passed() {
    let config = CONFIG.replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n");
    let scenario = r#"name: bound
target: api
why: api must not hammer db.
steps:
  - request: GET api /health
checks:
  - on: api -> db
    max_attempts_per_request: 3
"#;
    // The same for a bound on every request of the edge: none at all is not "at most 3".
    let total =
        scenario.replace("name: bound", "name: total").replace("max_attempts_per_request: 3", "max_requests: 3");
    let r = TestRepo::relay(
        &config,
        &[("bound", scenario), ("total", &total)],
        &[("api/main.txt", "api v1\n"), ("db/main.txt", "db\n")],
    );
    r.write("api/main.txt", "api v2\n");
    r.commit("api change");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "{text}");
    for s in v["scenarios"].as_array().unwrap() {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["error"].as_str().unwrap().contains("no request crossed api -> db"), "{s}");
    }
    assert_eq!(v["scenarios"].as_array().unwrap().len(), 2, "{v}");
}

// 7. Head-controlled code on the host.

#[test]
fn prepare_gets_no_secrets_and_the_timeout_bounds_it() {
    let config = CONFIG
        .replace(
            "    env: { SERVICE_NAME: api }\n",
            "    env: { SERVICE_NAME: api }\n    prepare: sh tools/prepare.sh\n",
        )
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n")
        .replace("  seniors:", "  prepare_env: [FAULTLINE_TEST_NAMED]\n  seniors:")
        + "isolation: { on_runner: \"the test reads what the script dumps on the host\" }\n";
    let dump = tempfile::tempdir().unwrap();
    let out = dump.path().join("env.txt");
    let marker = format!("faultline-sleep-marker-{}", std::process::id());
    let r = repo(&config);
    // The change's prepare script dumps its environment, then fails (no Docker needed).
    r.write("tools/prepare.sh", "env > \"$DUMP\"\nexit 3\n");
    r.commit("prepare");
    let env = [
        ("FAULTLINE_TEST_SECRET", "s3cr3t"),
        ("GITHUB_TOKEN", "ghp_x"),
        ("FAULTLINE_TEST_NAMED", "named"),
        ("DUMP", "/nonexistent"),
    ];
    let dump_arg = format!("DUMP={}", out.display());
    // A bad variable name is refused before anything runs.
    let bad = r.faultline(&["gate", "--base", "main", "--prepare-env", "=x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::stderr(&bad).contains("`` is not a variable name"), "{}", common::stderr(&bad));
    let (code, v, text) = gate_env(&r, &["--prepare-env", &dump_arg], &env);
    assert_eq!(code, 2, "a failed prepare cannot be judged:\n{text}");
    assert!(reasons(&v).contains("tools/prepare.sh"), "{}", reasons(&v));
    // The person waiting is told what runs before it runs.
    assert!(text.contains("prepare: `sh tools/prepare.sh` (api) on the code under test"), "{text}");
    let seen = std::fs::read_to_string(&out).expect("the prepare script ran");
    assert!(!seen.contains("s3cr3t") && !seen.contains("ghp_x"), "secrets reached prepare:\n{seen}");
    assert!(seen.contains("FAULTLINE_TEST_NAMED=named"), "policy.prepare_env passes a variable:\n{seen}");
    assert!(seen.lines().any(|l| l.starts_with("PATH=")), "{seen}");

    // A prepare that outlives --timeout: unverified, and its processes are gone.
    r.write("tools/prepare.sh", format!("sh -c 'exec -a {marker} sleep 60' &\nsleep 60\n"));
    r.commit("slow prepare");
    let (code, v, text) = gate(&r, &["--timeout", "2s"]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("timed out after 2s while running: prepare"), "{}", reasons(&v));
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.lines().any(|l| l.contains(&marker)), "a process of prepare outlived the gate:\n{ps}");
}

/// Code of the change runs in a container: it cannot see the Docker socket, the runner's
/// secrets, the faultline binary or the runner's home, cannot write the checkout but for
/// what `isolation.writable` lists, and has no network. On the runner (before isolation),
/// the socket, the binary and the home were there and the checkout writable.
#[test]
fn prepare_runs_in_a_container_that_cannot_reach_the_runner() {
    let config = CONFIG
        .replace(
            "    env: { SERVICE_NAME: api }\n",
            "    env: { SERVICE_NAME: api }\n    prepare: sh tools/prepare.sh\n",
        )
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n")
        .replace("  seniors:", "  prepare_env: [FAULTLINE_TEST_NAMED]\n  seniors:")
        + "isolation: { writable: [out] }\n";
    let r = repo(&config);
    r.write(
        "tools/prepare.sh",
        r#"probe() { if eval "$2" >/dev/null 2>&1; then echo "probe $1: yes"; else echo "probe $1: no"; fi; }
probe socket '[ -S /var/run/docker.sock ]'
probe docker-host '[ -n "$DOCKER_HOST" ]'
probe secret '[ -n "$FAULTLINE_TEST_SECRET" ]'
probe named '[ "$FAULTLINE_TEST_NAMED" = named ]'
probe faultline '[ -e "$FAULTLINE_EXE" ]'
probe runner-home '[ -e "$RUNNER_FILE" ]'
probe write-checkout 'touch README.md'
probe write-out 'touch out/built'
probe network '[ "$(ls /sys/class/net)" != lo ]'
exit 3
"#,
    );
    r.commit("prepare probes where it runs");
    let home = tempfile::tempdir().unwrap();
    let runner_file = home.path().join("credentials");
    std::fs::write(&runner_file, "token").unwrap();
    let exe = format!("FAULTLINE_EXE={}", env!("CARGO_BIN_EXE_faultline"));
    let file = format!("RUNNER_FILE={}", runner_file.display());
    let env = [("FAULTLINE_TEST_SECRET", "s3cr3t"), ("FAULTLINE_TEST_NAMED", "named")];
    let (code, v, text) = gate_env(&r, &["--prepare-env", &exe, "--prepare-env", &file], &env);
    assert_eq!(code, 2, "a failed prepare cannot be judged:\n{text}");
    let why = reasons(&v);
    for (probe, expected) in [
        ("socket", "no"),
        ("docker-host", "no"),
        ("secret", "no"),
        ("named", "yes"),
        ("faultline", "no"),
        ("runner-home", "no"),
        ("write-checkout", "no"),
        ("write-out", "yes"),
        ("network", "no"),
    ] {
        assert!(why.contains(&format!("probe {probe}: {expected}")), "{probe} should be {expected}:\n{why}");
    }
}

/// A writable path the change commits as a link to a directory of the runner is not
/// mounted: the gate cannot verify, and the directory stays as it was.
#[test]
fn a_writable_path_the_change_links_out_is_refused() {
    let config = CONFIG
        .replace("    env: { SERVICE_NAME: api }\n", "    env: { SERVICE_NAME: api }\n    prepare: touch out/pwned\n")
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n")
        + "isolation: { writable: [out] }\n";
    let r = repo(&config);
    let runner_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(runner_dir.path(), r.path.join("out")).unwrap();
    r.write("api/main.txt", "api v2\n");
    r.commit("out is a link");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("is a link in the checkout"), "{}", reasons(&v));
    assert!(std::fs::read_dir(runner_dir.path()).unwrap().next().is_none(), "the runner's directory was written");
}

/// The relay's configuration with a build (`sh tools/prepare.sh`) for the api, run in a
/// container (`isolation: {}`), and every scenario run for a high-risk change.
fn isolated_build_config() -> String {
    CONFIG
        .replace(
            "    env: { SERVICE_NAME: api }\n",
            "    env: { SERVICE_NAME: api }\n    prepare: sh tools/prepare.sh\n",
        )
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n")
        + "isolation: {}\n"
}

/// A change's build cannot leave anything for another change's build: each build works on
/// its own copy of the base's build cache. The first change writes into its `HOME` (in the
/// cache); a second change of the same base finds nothing of it.
#[test]
fn a_build_of_one_change_leaves_nothing_the_next_build_reads() {
    let r = repo(&isolated_build_config());
    // On the base: a build that refuses to run where an earlier build left poison.
    r.git(&["checkout", "-q", "main"]);
    r.write("tools/prepare.sh", "test ! -e \"$HOME/poison\" || { echo poisoned; exit 3; }\n");
    r.commit("a build that refuses poison");
    r.git(&["checkout", "-q", "-b", "poison"]);
    r.write("tools/prepare.sh", "touch \"$HOME/poison\"\n");
    r.commit("a build that leaves poison");
    let cache = tempfile::tempdir().unwrap();
    let cache_env = [("FAULTLINE_CACHE_DIR", cache.path().to_str().unwrap())];
    let (code, v, text) = gate_env(&r, &[], &cache_env);
    assert_eq!(code, 0, "the poisoning change itself builds:\n{text}");
    assert_eq!(v["prepare"][0]["ran_in"], "a container", "its build ran: {v}");
    // The next change of the same base: its build starts from the base's, not the last one's.
    r.git(&["checkout", "-q", "main"]);
    r.git(&["checkout", "-q", "-b", "next"]);
    r.write("api/main.txt", "api v3\n");
    r.commit("another change");
    let (code, v, text) = gate_env(&r, &[], &cache_env);
    assert_eq!(code, 0, "{text}");
    assert!(!reasons(&v).contains("poisoned"), "{}", reasons(&v));
    assert_eq!(v["prepare"][0]["ran_in"], "a container", "the next build ran: {v}");
    let seeds = std::fs::read_dir(cache.path().join("build")).unwrap().flatten();
    assert!(
        seeds.into_iter().any(|e| e.file_name().to_string_lossy().starts_with("seed-")),
        "the base seeded the cache"
    );
}

/// A build of the change finds its copy of the base's build where the base's build left it:
/// build tools keep absolute paths in what they cache (Cargo's fingerprints name the
/// registry's sources and build scripts' output), so a copy seen at another path would
/// have everything built again.
#[test]
fn a_build_sees_its_copy_of_the_seed_at_the_path_the_seed_was_built_at() {
    let r = repo(&isolated_build_config());
    r.git(&["checkout", "-q", "main"]);
    r.write(
        "tools/prepare.sh",
        "if [ -e \"$HOME/built-at\" ]; then\n  [ \"$(cat \"$HOME/built-at\")\" = \"$HOME\" ] || { echo \"moved from $(cat \"$HOME/built-at\") to $HOME\"; exit 3; }\n  echo reused\nelse\n  echo \"$HOME\" > \"$HOME/built-at\"\nfi\n",
    );
    r.commit("a build that remembers where it ran");
    r.git(&["checkout", "-q", "-b", "remembered"]);
    r.write("api/main.txt", "api v2\n");
    r.commit("a change");
    let cache = tempfile::tempdir().unwrap();
    let cache_env = [("FAULTLINE_CACHE_DIR", cache.path().to_str().unwrap())];
    let (code, v, text) = gate_env(&r, &[], &cache_env);
    assert_eq!(code, 0, "{text}");
    assert!(!reasons(&v).contains("moved"), "{}", reasons(&v));
    let output = v["prepare"][0]["output"].as_str().unwrap_or_default();
    assert!(output.contains("reused"), "the change's build started from the base's: {v}");
}

/// A plan that would run code of the change with no `isolation:` on the base is could not
/// verify, saying how to declare it; an opt-out in writing runs it on the runner, and the
/// report says where it ran and why.
#[test]
fn code_of_the_change_runs_only_where_the_base_says() {
    let config = CONFIG
        .replace(
            "    env: { SERVICE_NAME: api }\n",
            "    env: { SERVICE_NAME: api }\n    prepare: sh tools/prepare.sh\n",
        )
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n");
    let r = repo(&config);
    r.write("tools/prepare.sh", "echo built\n");
    r.commit("a build step");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("declares no `isolation:`"), "{}", reasons(&v));

    let r = repo(&(config + "isolation: { on_runner: \"a builder only the runner has\" }\n"));
    r.write("tools/prepare.sh", "echo built\n");
    r.commit("a build step");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 0, "{text}");
    let ran = &v["prepare"][0];
    assert_eq!(ran["service"], "api", "{v}");
    assert!(
        ran["ran_in"].as_str().unwrap().contains("the runner (isolation.on_runner: a builder only the runner has)"),
        "{ran}"
    );
}

/// `CONFIG` with `db` built from `images/early-db` (no `prepare:`, a context the build cannot
/// write, so its image builds while api's `prepare:`, `sh tools/PREPARE`, runs) and every
/// scenario run on a high-tier change.
fn early_image_config(prepare: &str) -> String {
    CONFIG
        .replace("    build: images/relay\n    ports: [8080]\n    ready: { http: /health }\n    env: { SERVICE_NAME: db }\n",
            "    build: images/early-db\n    ports: [8080]\n    ready: { http: /health }\n    env: { SERVICE_NAME: db }\n")
        .replace(
            "    env: { SERVICE_NAME: api }\n",
            &format!("    env: {{ SERVICE_NAME: api }}\n    prepare: sh tools/{prepare}\n"),
        )
        .replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n")
        + "isolation: { writable: [out] }\n"
}

/// The image of a service with no `prepare:` builds while the change builds; when it fails,
/// the gate cannot verify (exit 2), the reason names the service and ends with its build's
/// last lines, and the build it cut short leaves no process behind.
#[test]
fn an_image_that_fails_during_the_build_cannot_allow() {
    let marker = format!("slow-build-{}.sh", std::process::id());
    let r = repo(&early_image_config(&marker));
    r.git(&["checkout", "-q", "main"]);
    r.write("images/early-db/Dockerfile", "FROM debian:bookworm-slim\nRUN echo the-db-image-breaks && exit 3\n");
    r.write(format!("tools/{marker}"), "sleep 300\nmkdir -p out && echo built > out/api\n");
    r.commit("a database image that does not build");
    r.git(&["checkout", "-q", "change"]);
    r.git(&["merge", "-q", "main"]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api v2");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "a failed image cannot be judged:\n{text}");
    let why = reasons(&v);
    assert!(why.contains("the image of `db` failed to build"), "{why}");
    assert!(why.contains("the-db-image-breaks"), "the build's last lines: {why}");
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.lines().any(|l| l.contains(&marker)), "the build outlived the gate:\n{ps}");
}

/// The images built during the build are the images the stack runs: the gate builds db's
/// while api's `prepare:` runs, the scenario's stack starts from it and answers, and
/// `faultline up` (which prepares on its own) starts the same stack.
#[test]
fn images_built_during_the_build_start_and_answer() {
    // Only this test builds faultline/images-early-db: none of it is left from an earlier run.
    let tags = std::process::Command::new("docker")
        .args(["images", "--filter", "label=faultline.context", "--format", "{{.Repository}}:{{.Tag}}"])
        .arg("faultline/images-early-db")
        .output()
        .unwrap();
    for tag in String::from_utf8_lossy(&tags.stdout).lines() {
        let _ = std::process::Command::new("docker").args(["rmi", tag]).output();
    }
    let r = repo(&early_image_config("prepare.sh"));
    r.git(&["checkout", "-q", "main"]);
    let relay = std::fs::read_to_string(r.path.join("images/relay/Dockerfile")).unwrap();
    r.write("images/early-db/Dockerfile", relay + "ENV FAULTLINE_TEST_IMAGE=early-db\n");
    r.write("images/early-db/relay.py", std::fs::read(r.path.join("images/relay/relay.py")).unwrap());
    r.write("tools/prepare.sh", "mkdir -p out && echo built > out/api\n");
    r.commit("db from an image of its own");
    r.git(&["checkout", "-q", "change"]);
    r.git(&["merge", "-q", "main"]);
    r.write("api/main.txt", "api v2\n");
    r.commit("api v2");
    let (code, v, text) = gate_env(&r, &[], &[("RUST_LOG", "faultline=info")]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("images checked and built during the build services=[\"db\"]"), "{text}");
    let ran: Vec<_> = v["scenarios"].as_array().unwrap().iter().map(|s| (&s["name"], &s["status"])).collect();
    assert_eq!(ran, [(&json!("api-smoke"), &json!("passed"))], "{v}");
    let built = std::process::Command::new("docker")
        .args(["images", "--filter", "label=faultline.context", "-q", "faultline/images-early-db"])
        .output()
        .unwrap();
    assert!(!built.stdout.is_empty(), "db's image was built from its context");

    let up = r.faultline(&["up", "api"]);
    assert_eq!(up.status.code(), Some(0), "{}", common::output(&up));
    assert!(String::from_utf8_lossy(&up.stdout).contains("stack up"), "{}", common::output(&up));
}

// 8. AI-assisted changes that pass as human.

#[test]
fn what_assistants_write_by_default_marks_a_change_ai_assisted() {
    let shop_policy = CONFIG.replace(
        "  seniors:",
        "  ai_assisted:\n    trailers: [\"Co-authored-by: .*(Copilot|Claude|Cursor|Codex|aider)\"]\n  seniors:",
    );
    let cases: [(&str, &str); 5] = [
        ("Dev <dev@shop.example>", "Fix\n\nCo-Authored-By: Claude <noreply@anthropic.com>"),
        ("Dev <dev@shop.example>", "Fix\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)"),
        ("Copilot <198982749+Copilot@users.noreply.github.com>", "Fix the thing"),
        ("Dev <dev@shop.example>", "Fix\n\nco-authored-by: Cursor <cursoragent@cursor.com>"),
        ("Dev (aider) <dev@shop.example>", "Fix"),
    ];
    for (author, message) in cases {
        let r = repo(&shop_policy);
        r.write("db/main.txt", "db v2\n");
        r.commit_as(author, message);
        let plan = r.plan_json(&["--base", "main"]);
        assert_eq!(plan["ai_assisted"], true, "{author} / {message:?}");
    }
    // A human's commit is not; the built-in patterns can be switched off.
    let r = repo(&shop_policy);
    r.write("db/main.txt", "db v2\n");
    r.commit_as("Claude Monet <claude@monet.example>", "Paint\n\nCo-authored-by: Ada <ada@example.com>");
    assert_eq!(r.plan_json(&["--base", "main"])["ai_assisted"], false);
    let r = repo(&CONFIG.replace("  seniors:", "  ai_assisted: { builtin: false }\n  seniors:"));
    r.write("db/main.txt", "db v2\n");
    r.commit_as("Copilot <198982749+Copilot@users.noreply.github.com>", "Fix");
    assert_eq!(r.plan_json(&["--base", "main"])["ai_assisted"], false);
    // Two labels in one --label are two labels.
    let r = repo(CONFIG);
    r.write("db/main.txt", "db v2\n");
    r.commit("Fix");
    assert_eq!(r.plan_json(&["--base", "main", "--label", "bug,ai-assisted"])["ai_assisted"], true);
}

// Crashes.

#[test]
fn huge_names_control_characters_and_special_files_do_not_crash() {
    // A 65,536-character key in faultline.yaml.
    let r = repo(CONFIG);
    r.write("faultline.yaml", format!("{CONFIG}{}: 1\n", "k".repeat(65_536)));
    let out = r.faultline(&["plan", "--base", "main", "--config-from", "worktree"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", err.chars().take(2000).collect::<String>());
    assert!(
        err.contains("faultline.yaml:27:") && !err.contains("panicked"),
        "{}",
        err.chars().take(2000).collect::<String>()
    );

    // A 130,000-byte glob and scenarios path: refused, not compiled.
    r.write(
        "faultline.yaml",
        format!(
            "{}scenarios: {}/\n",
            CONFIG.replace("high: [\"api/**\"]", &format!("high: [\"{}/**\"]", "a".repeat(130_000))),
            "s".repeat(130_000)
        ),
    );
    let out = r.faultline(&["plan", "--base", "main", "--config-from", "worktree"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", err.chars().take(2000).collect::<String>());
    assert!(err.contains("faultline takes globs of at most 1024"), "{}", err.chars().take(2000).collect::<String>());
    assert!(
        err.contains("`scenarios` must be a directory inside the repository"),
        "{}",
        err.chars().take(2000).collect::<String>()
    );

    // A 65,536-character scenario name and a file name with a newline, in the text plan.
    let r =
        repo(&CONFIG.replace("    high: { scenarios: none, signoff: seniors }\n", "    high: { scenarios: all }\n"));
    r.write("scenarios/long.yaml", SMOKE.replace("name: api-smoke", &format!("name: {}", "n".repeat(65_536))));
    r.commit("long name");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--ff-only", "change"]);
    r.git(&["checkout", "-q", "change"]);
    r.write("api/evil\nchanged    forged line", "x\n");
    r.commit("evil name");
    let out = r.faultline(&["plan", "--base", "main"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(text.contains("api/evil\\x0achanged    forged line"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("changed    forged")), "{text}");

    // A FIFO or a device as verdict.json is refused at once.
    let fifo = tempfile::tempdir().unwrap();
    let p = fifo.path().join("verdict.json");
    assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
    for file in [p.to_str().unwrap(), "/dev/zero"] {
        let out = r.faultline(&["report", "merge", file, "--out", fifo.path().join("out").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{file}: {}", common::stderr(&out));
        assert!(common::stderr(&out).contains("not a regular file"), "{}", common::stderr(&out));
    }
}

// 6. report merge.

/// A shard's verdict.json, made from a real plan and bound to its run. `approvals` are what
/// the shard recorded: `report merge` does not count them.
fn shard(plan: &Value, index: u32, count: u32, scenarios: Vec<Value>, decision: &str, approvals: &[&str]) -> Value {
    let typed: faultline::plan::Plan = serde_json::from_value(plan.clone()).expect("a plan");
    json!({
        "run": {"base": plan["base"]["commit"], "head": plan["head"]["commit"], "config_digest": "c".repeat(64),
                "plan_digest": faultline::outcome::plan_digest(&typed)},
        "version": 1,
        "decision": decision,
        "reasons": [],
        "seed": 7,
        "plan": plan,
        "signoff": {
            "required": plan["signoff_required"],
            "seniors": plan["seniors"],
            "approvals": approvals.iter().map(|a| json!({"email": a, "source": "--approved-by", "senior": true})).collect::<Vec<_>>(),
            "satisfied": !approvals.is_empty(),
        },
        "scenarios": scenarios,
        "timings": {"plan_seconds": 0.0, "build_seconds": 0.0, "images_seconds": 0.0, "scenarios_seconds": 0.0,
                    "stacks_seconds": 0.0, "runs_seconds": 0.0, "teardown_seconds": 0.0, "total_seconds": 0.0},
        "partition": {"index": index, "count": count},
    })
}

fn outcome(name: &str, status: &str, check_passed: bool) -> Value {
    json!({
        "name": name, "file": format!("scenarios/{name}.yaml"), "target": "api", "why": "w", "seed": 7,
        "status": status, "error": null,
        "steps": [{"index": 0, "step": "GET api /health", "passed": true, "expected": "200", "observed": "200"}],
        "checks": [{"index": 0, "line": 9, "check": "logs", "passed": check_passed, "expected": "none", "observed": "x"}],
        "edges": {}, "stack_seconds": 0.0, "run_seconds": 0.0, "teardown_seconds": 0.0, "repro": "faultline run"
    })
}

fn merge(r: &TestRepo, shards: &[&Value]) -> (i32, Value, String) {
    merge_approved(r, shards, &[])
}

/// `report merge` of `shards`, handed `approved` (`--approved-by`).
fn merge_approved(r: &TestRepo, shards: &[&Value], approved: &[&str]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["report".to_owned(), "merge".to_owned()];
    for a in approved {
        args.extend(["--approved-by".to_owned(), (*a).to_owned()]);
    }
    for (i, s) in shards.iter().enumerate() {
        let p = dir.path().join(format!("shard{i}.json"));
        std::fs::write(&p, serde_json::to_vec(s).unwrap()).unwrap();
        args.push(p.display().to_string());
    }
    let out_dir = dir.path().join("merged");
    args.extend(["--out".to_owned(), out_dir.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.faultline(&args);
    let v =
        std::fs::read(out_dir.join("verdict.json")).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, common::stderr(&out) + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn report_merge_gives_the_verdict_of_the_unsharded_gate() {
    let two = r#"name: api-two
target: api
why: two.
steps:
  - request: GET api /health
"#;
    let config = CONFIG.replace(
        "    high: { scenarios: none, signoff: seniors }\n",
        "    high: { scenarios: all, signoff: seniors }\n",
    );
    let r = TestRepo::relay(&config, &[("api-smoke", SMOKE), ("api-two", two)], &[("api/main.txt", "v1\n")]);
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(common::strings(&plan["scenarios"]), ["api-smoke", "api-two"]);
    let good = |n| outcome(n, "passed", true);
    let a = shard(&plan, 1, 2, vec![good("api-smoke")], "allow", &["alice@shop.example"]);
    let b = shard(&plan, 2, 2, vec![good("api-two")], "allow", &[]);
    let (code, v, text) = merge_approved(&r, &[&a, &b], &["alice@shop.example"]);
    assert_eq!(code, 0, "the whole ran and passed, and a senior approved:\n{text}");
    // Order does not matter.
    let (code2, v2, _) = merge_approved(&r, &[&b, &a], &["alice@shop.example"]);
    assert_eq!((code2, &v2["decision"]), (code, &v["decision"]));
    // The approval a shard recorded is not the merge's: without its own, the sign-off is missing.
    let (code, v, text) = merge(&r, &[&a, &b]);
    assert_eq!(code, 1, "{text}");
    assert!(reasons(&v).contains("sign-off is required and missing"), "{}", reasons(&v));

    // A shard that ran none of its planned scenarios.
    let empty = shard(&plan, 2, 2, vec![], "allow", &[]);
    let (code, v, text) = merge(&r, &[&a, &empty]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("planned scenario api-two ran in no shard"), "{}", reasons(&v));
    // One shard of one that ran one of two.
    let lone = shard(&plan, 1, 1, vec![good("api-smoke")], "allow", &["alice@shop.example"]);
    assert_eq!(merge(&r, &[&lone]).0, 2);
    // A shard whose own verdict was block, with passing scenarios.
    let blocked = shard(&plan, 2, 2, vec![good("api-two")], "block", &[]);
    assert_eq!(merge_approved(&r, &[&a, &blocked], &["alice@shop.example"]).0, 1);
    // A scenario "passed" with a failed check.
    let lying = shard(&plan, 2, 2, vec![outcome("api-two", "passed", false)], "allow", &[]);
    assert_eq!(merge_approved(&r, &[&a, &lying], &["alice@shop.example"]).0, 1);
    // A scenario run twice.
    let twice = shard(&plan, 2, 2, vec![good("api-two"), good("api-smoke")], "allow", &[]);
    assert_eq!(merge(&r, &[&a, &twice]).0, 2);
    // Shards whose plans differ.
    let mut other_plan = plan.clone();
    other_plan["tier"] = json!("low");
    let c = shard(&other_plan, 2, 2, vec![good("api-two")], "allow", &[]);
    let (code, _, text) = merge(&r, &[&a, &c]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("run.plan_digest is"), "{text}");
    // Partition count 0.
    let zero = shard(&plan, 0, 0, vec![good("api-two")], "allow", &[]);
    let (code, _, text) = merge(&r, &[&a, &zero]);
    assert_eq!(code, 2, "{text}");
    // No sign-off in any shard: blocked.
    let a2 = shard(&plan, 1, 2, vec![good("api-smoke")], "allow", &[]);
    assert_eq!(merge(&r, &[&a2, &b]).0, 1);
    // A shard that claims its sign-off satisfied, or an approval from a trailer: not taken
    // on trust.
    let mut forged = a2.clone();
    forged["signoff"]["satisfied"] = json!(true);
    assert_eq!(merge(&r, &[&forged, &b]).0, 1);
    forged["signoff"]["approvals"] =
        json!([{"email": "alice@shop.example", "source": "Reviewed-by in abc", "senior": true}]);
    assert_eq!(merge(&r, &[&forged, &b]).0, 1);
    // What a shard says of the code host is not the merge's: it reads the host itself.
    let mut unread = a2.clone();
    unread["signoff"]["unreadable"] = json!("cannot read the approvals of GitHub pull request o/r#1: 502");
    assert_eq!(merge(&r, &[&unread, &b]).0, 1);
    assert_eq!(merge_approved(&r, &[&unread, &b], &["alice@shop.example"]).0, 0);
    // A scenario "passed" whose check observed nothing: could not verify.
    let mut unobserved = outcome("api-two", "passed", false);
    unobserved["checks"][0]["unobserved"] = json!(true);
    let c = shard(&plan, 2, 2, vec![unobserved], "allow", &[]);
    assert_eq!(merge_approved(&r, &[&a, &c], &["alice@shop.example"]).0, 2);
    // A scenario "passed", every step and check passed, beside the error it could not run
    // past (the status rewritten, the reason left): the error stands, could not verify.
    let mut rewritten = good("api-two");
    rewritten["error"] = json!("the stack did not come up: db exited");
    let c = shard(&plan, 2, 2, vec![rewritten], "allow", &[]);
    let (code, v, text) = merge_approved(&r, &[&a, &c], &["alice@shop.example"]);
    assert_eq!(code, 2, "{text}");
    assert!(v["scenarios"].as_array().unwrap().iter().any(|s| s["status"] == "error"), "{v}");
}

/// A change to api, whose high tier explores api with `workload` (steps of
/// `explore.workloads.api`) besides needing a senior.
fn explored_change(workload: &str) -> TestRepo {
    let config = CONFIG.replace(
        "    high: { scenarios: none, signoff: seniors }\n",
        "    high: { scenarios: none, signoff: seniors, explore: true }\n",
    ) + "explore:\n  workloads:\n    api:\n"
        + workload;
    let r = TestRepo::relay(&config, &[], &[("api/main.txt", "v1\n")]);
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    r
}

/// A planned exploration must come back from the shards, once, and a shard cannot call a
/// failed experiment passed.
#[test]
fn report_merge_keeps_what_exploration_found() {
    let r = explored_change("      - request: GET api /health\n");
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(common::strings(&plan["explore"]), ["api"], "{plan}");
    let explored = |status: &str, check_passed: bool| {
        json!([{ "service": "api", "seed": 7, "edges": [], "planned": 1, "skipped": [], "unexplored": [], "seconds": 1.0,
                 "ran": [{ "class": "down", "on": "api -> db", "mode": "sequential",
                           "outcome": outcome("explore-api-x", status, check_passed) }] }])
    };
    let mut a = shard(&plan, 1, 2, vec![], "allow", &["alice@shop.example"]);
    let b = shard(&plan, 2, 2, vec![], "allow", &[]);
    // No shard carries it: could not verify.
    let (code, v, text) = merge(&r, &[&a, &b]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("exploration of api is in no shard"), "{}", reasons(&v));
    // One does, and it passed.
    a["exploration"] = explored("passed", true);
    assert_eq!(merge_approved(&r, &[&a, &b], &["alice@shop.example"]).0, 0);
    // An experiment "passed" with a failed check: recomputed, it blocks.
    a["exploration"] = explored("passed", false);
    let (code, v, text) = merge(&r, &[&a, &b]);
    assert_eq!(code, 1, "{text}");
    assert!(reasons(&v).contains("found a failure nobody wrote a scenario for"), "{}", reasons(&v));
    // Both carry it: could not verify.
    a["exploration"] = explored("passed", true);
    let mut b2 = b.clone();
    b2["exploration"] = explored("passed", true);
    assert_eq!(merge(&r, &[&a, &b2]).0, 2);
}

/// A change that makes the stack slow enough to spend the exploration budget before any
/// experiment runs is not allowed for having explored nothing.
#[test]
fn exploration_that_ran_nothing_cannot_allow() {
    let r = explored_change("      - request: GET api /call\n        expect: { status: [200, 502], within: 5s }\n");
    let (code, v, text) = gate(&r, &["--approved-by", "alice@shop.example", "--explore-budget", "1ms"]);
    assert_eq!(code, 2, "{text}");
    assert!(reasons(&v).contains("none of its"), "{}", reasons(&v));
    assert!(v["exploration"][0]["planned"].as_u64().is_some_and(|n| n > 0), "{v}");
}

// 9. A file compiled into a service from outside what the plan knows it reads.

/// orders is a Rust crate whose `prepare:` builds it for real; it compiles in
/// `docs/schema.sql`, which neither its `paths` nor its `inputs` name (docs/ is a low-tier
/// glob no service owns). The rule runs the affected services' scenarios.
const COMPILED_IN: &str = r#"version: 1
services:
  orders:
    paths: ["services/orders/**"]
    build: images/relay
    prepare: cd services/orders && cargo build --offline --quiet
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: orders }
isolation: { image: images/builder, rust: true }
policy:
  tiers:
    low: ["docs/**"]
  gate:
    low: { scenarios: affected }
    medium: { scenarios: affected }
"#;

/// A change to a file the build of a service read, which the plan did not know it reads, is
/// could not verify, naming the file, the service and the way to declare it; a change to a
/// file no build read is judged as before (nothing to run: allow). Before the gate read
/// Cargo's dep-info, the first change was allowed without running anything. No Docker: the
/// plan selects no scenario.
#[test]
fn a_file_the_build_of_a_service_read_cannot_pass_unplanned() {
    let r = TestRepo::relay(
        COMPILED_IN,
        &[(
            "orders-smoke",
            "target: orders\nwhy: orders answers.\nsteps:\n  - request: GET orders /health\n    expect: { status: [200] }\n",
        )],
        &[
            ("docs/schema.sql", "create table orders (id int);\n"),
            ("docs/guide.md", "# Guide\n"),
            (
                "services/orders/Cargo.toml",
                "[package]\nname = \"orders\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
            ),
            (
                "services/orders/Cargo.lock",
                "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"orders\"\nversion = \"0.1.0\"\n",
            ),
            (
                "services/orders/src/main.rs",
                "const SCHEMA: &str = include_str!(\"../../../docs/schema.sql\");\nfn main() { println!(\"{SCHEMA}\"); }\n",
            ),
        ],
    );
    r.write("docs/guide.md", "# Guide, longer\n");
    r.commit("A guide nobody builds");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["decision"], "allow", "{text}");
    assert!(
        v["prepare"].as_array().unwrap().iter().any(|c| c["service"] == "orders"),
        "every service was built to read what it read: {}",
        v["prepare"]
    );

    r.write("docs/schema.sql", "create table orders (id int, total int);\n");
    r.commit("A column compiled into orders");
    let plan = r.plan_json(&["--base", "main"]);
    assert_eq!(plan["affected"], json!([]), "the globs alone miss it");
    let (code, v, text) = gate(&r, &[]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(v["decision"], "unverified", "{text}");
    let why = reasons(&v);
    assert!(why.contains("docs/schema.sql is read by the build of orders"), "{why}");
    // Built in a container, into the gate's build cache: the dep-info is there.
    assert!(why.contains("/target/debug/orders.d"), "{why}");
    assert!(why.contains("inputs"), "{why}");
}
