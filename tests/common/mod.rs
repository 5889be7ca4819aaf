//! Real temporary git repositories for the integration tests, driven by the git CLI so the
//! fixtures are built the way users build theirs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `services:` section of two relay services, `api` calling `db` over HTTP and waiting
/// `$timeout` seconds for it (`CALL_TIMEOUT`), each owning its directory: what most tests
/// that need a stack build on. A literal, so a test's whole configuration stays a `const`.
#[macro_export]
macro_rules! relay_services {
    ($timeout:literal) => {
        concat!(
            "services:\n",
            "  db:\n",
            "    paths: [\"db/**\"]\n",
            "    build: images/relay\n",
            "    ports: [8080]\n",
            "    ready: { http: /health }\n",
            "    env: { SERVICE_NAME: db }\n",
            "  api:\n",
            "    paths: [\"api/**\"]\n",
            "    build: images/relay\n",
            "    ports: [8080]\n",
            "    ready: { http: /health }\n",
            "    env: { SERVICE_NAME: api, CALL_TIMEOUT: \"",
            $timeout,
            "\" }\n",
            "    depends_on:\n",
            "      db: { env: DB_URL, url: \"http://{host}:{port}\" }\n",
        )
    };
}

/// PostgreSQL (role and database `shop`) and Redis from the fixture images, as entries of
/// `services:`; a literal, for `concat!`.
#[macro_export]
macro_rules! data_services {
    () => {
        r#"  postgres:
    build: fixtures/images/postgres
    ports: [5432]
    ready: { log: "database system is ready to accept connections" }
    env: { POSTGRES_USER: shop, POSTGRES_DB: shop }
  redis:
    build: fixtures/images/redis
    ports: [6379]
    ready: { tcp: 6379 }
"#
    };
}

pub const SHOP_CONFIG: &str = r#"version: 1
services:
  postgres:
    build: fixtures/images/postgres
    ports: [5432]
    ready: { log: "database system is ready to accept connections" }
  redis:
    build: fixtures/images/redis
    ports: [6379]
    ready: { tcp: 6379 }
  payments:
    paths: ["services/payments/**"]
    build: services/payments
    ports: [8080]
    ready: { http: /health }
    depends_on:
      postgres: { env: DATABASE_URL, url: "postgres://shop@{host}:{port}/shop" }
  orders:
    paths: ["services/orders/**"]
    build: services/orders
    ports: [8080]
    ready: { http: /health }
    depends_on:
      payments: { env: PAYMENTS_URL, url: "http://{host}:{port}" }
      postgres: { env: DATABASE_URL, url: "postgres://shop@{host}:{port}/shop" }
      redis: { env: REDIS_URL, url: "redis://{host}:{port}" }
  web:
    paths: ["services/web/**"]
    build: services/web
    ports: [8080]
    depends_on:
      orders: { env: ORDERS_URL, url: "http://{host}:{port}" }
global: ["Cargo.lock"]
policy:
  tiers:
    high: ["services/payments/**", "**/migrations/**"]
    medium: ["services/**"]
    low: ["**/*.md", "docs/**"]
  ai_assisted:
    trailers: ["Co-authored-by: .*(Copilot|Claude|Cursor|Codex|aider)", "Assisted-by:", "Generated-by:"]
    authors: ["^dependabot"]
  gate:
    high:   { scenarios: affected, signoff: seniors }
    medium: { scenarios: affected }
    low:    { scenarios: none }
  ai_gate:
    high:   { scenarios: all, signoff: seniors }
    medium: { scenarios: affected, signoff: seniors }
    low:    { scenarios: affected }
  seniors: ["alice@shop.example"]
scenarios: scenarios/
"#;

/// `config` exploring only the fault `classes` (`explore.classes`, the items of a flow
/// list): a test of one oracle or fault class runs the faults that exercise it and a few
/// beside them, not the whole catalogue.
pub fn only(config: &str, classes: &str) -> String {
    assert!(config.contains("explore:\n"), "{config}");
    config.replacen("explore:\n", &format!("explore:\n  classes: [{classes}]\n"), 1)
}

/// A relay repository with `config` on main, `files` beside the relay, and a change
/// committed that rewrites the relay's code with `relay` (or only touches api): what the
/// tests of exploration's oracles and fault classes gate.
pub fn relay_change(config: &str, files: &[(&str, &str)], relay: Option<&dyn Fn(&str) -> String>) -> TestRepo {
    let files = [&[("api/main.txt", "v1\n")], files].concat();
    let r = TestRepo::relay(config, &[], &files);
    if let Some(change) = relay {
        let code = std::fs::read_to_string(r.path.join("images/relay/relay.py")).unwrap();
        let changed = change(&code);
        assert_ne!(changed, code, "the change changes the relay");
        r.write("images/relay/relay.py", changed);
    }
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    r
}

/// The fixture's Redis image, as a file of a test repository (`images/redis/Dockerfile`).
pub fn redis_image() -> (&'static str, String) {
    let dockerfile = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/redis/Dockerfile");
    ("images/redis/Dockerfile", std::fs::read_to_string(dockerfile).unwrap())
}

/// Both streams of a run of the binary.
pub fn output(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `faultline gate --base main --seed 6 --explore-budget BUDGET` on `r`, with `extra`
/// arguments, reports in a directory of its own: exit code, both streams, verdict.json
/// (`null` when none was written).
pub fn explore_gate(r: &TestRepo, budget: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let report = tempfile::tempdir().unwrap();
    let args = [
        &[
            "gate",
            "--base",
            "main",
            "--seed",
            "6",
            "--explore-budget",
            budget,
            "--report",
            report.path().to_str().unwrap(),
        ],
        extra,
    ]
    .concat();
    let out = r.faultline(&args);
    let v = serde_json::from_slice(&std::fs::read(report.path().join("verdict.json")).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null);
    (out.status.code(), output(&out), v)
}

/// The experiments that ran in a gate's first exploration, from its verdict.json.
pub fn ran(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["exploration"][0]["ran"].as_array().cloned().unwrap_or_default()
}

pub struct TestRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestRepo {
    /// An empty repository on branch `main`.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        let repo = TestRepo { _dir: dir, path };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// The `isolation:` of a configuration whose code of the change is Rust: the builder
    /// image the relay repositories carry (`images/builder`) and the host's toolchain.
    pub const ISOLATED_RUST: &'static str = "isolation:\n  image: images/builder\n  rust: true\n";

    /// Services built from the relay fixture (`images/relay`): `config`, the scenarios
    /// (`scenarios/NAME.yaml`), `files`, committed on `main` as "base", then a branch
    /// `change` checked out.
    pub fn relay(config: &str, scenarios: &[(&str, &str)], files: &[(&str, &str)]) -> TestRepo {
        let r = TestRepo::new();
        r.write("faultline.yaml", config);
        for (name, text) in scenarios {
            r.write(format!("scenarios/{name}.yaml"), text);
        }
        let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/relay");
        for f in ["Dockerfile", "relay.py"] {
            r.write(format!("images/relay/{f}"), std::fs::read(relay.join(f)).unwrap());
        }
        let builder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/builder/Dockerfile");
        r.write("images/builder/Dockerfile", std::fs::read(builder).unwrap());
        for (path, text) in files {
            r.write(path, text);
        }
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "change"]);
        r
    }

    /// The shop: config, two scenarios, a file per service, committed on `main`.
    pub fn shop() -> TestRepo {
        let repo = TestRepo::new();
        repo.write("faultline.yaml", SHOP_CONFIG);
        repo.write(
            "scenarios/payments-slow.yaml",
            "name: payments-slow\ntarget: orders\nwhy: orders must answer within 2 s\n",
        );
        repo.write("scenarios/postgres-paused.yaml", "target: payments\nwhy: payments must not charge twice\n");
        repo.write("scenarios/web-smoke.yaml", "target: web\n");
        repo.write("services/payments/src/main.rs", "fn main() { charge(); }\n");
        repo.write("services/payments/migrations/001.sql", "create table charges (id int);\n");
        repo.write("services/orders/src/main.rs", "fn main() { order(); }\n");
        repo.write(
            "services/orders/src/retry.rs",
            "pub fn retry() {}\n// a file long enough to be detected as renamed\n// line 3\n// line 4\n",
        );
        repo.write("services/web/index.html", "<html></html>\n");
        repo.write("docs/guide.md", "# Guide\n");
        repo.write("Cargo.lock", "# lock\n");
        repo.commit("shop baseline");
        repo
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@shop.example", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(&self.path)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path.join(rel)).unwrap();
    }

    /// Stages everything and commits with `message` (trailers included).
    pub fn commit(&self, message: &str) -> String {
        self.commit_as("Dev <dev@shop.example>", message)
    }

    pub fn commit_as(&self, author: &str, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "--author", author, "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs the real `faultline` binary in this repository.
    pub fn faultline(&self, args: &[&str]) -> Output {
        self.faultline_env(args, &[])
    }

    pub fn faultline_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
        cmd.args(args).current_dir(&self.path).env_remove("FAULTLINE_LABELS").env("NO_COLOR", "1");
        // The suite may itself run in GitHub Actions or GitLab CI: their event is not this
        // test's.
        for k in ["GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "CI_MERGE_REQUEST_IID"] {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run faultline")
    }

    /// `faultline ARGS --report DIR` (a gate, a run) with `env`: the exit code, the
    /// verdict.json it wrote (`null` when none) and everything it printed.
    pub fn with_report(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
        let report = tempfile::tempdir().expect("tempdir");
        let dir = report.path().to_str().expect("a UTF-8 temporary path").to_owned();
        let mut all = args.to_vec();
        all.extend_from_slice(&["--report", &dir]);
        let out = self.faultline_env(&all, env);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let v = std::fs::read(report.path().join("verdict.json"))
            .map(|b| serde_json::from_slice(&b).expect("verdict.json is JSON"))
            .unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), v, text)
    }

    /// `faultline plan --format json ARGS`, which must succeed.
    pub fn plan_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["plan", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.faultline(&all);
        assert!(
            out.status.success(),
            "faultline {all:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("plan JSON")
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `affected` as `(service, [reason kinds])`.
pub fn affected(plan: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    plan["affected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let kinds =
                a["reasons"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap().to_owned()).collect();
            (a["service"].as_str().unwrap().to_owned(), kinds)
        })
        .collect()
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

/// A configuration from YAML written in a test, which must be valid.
pub fn parse_config(yaml: &str) -> faultline::config::Config {
    let origin = faultline::config::ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    match faultline::config::parse(faultline::config::SourceFile::new("faultline.yaml", yaml.to_owned()), origin) {
        Ok(c) => c.config,
        Err(e) => panic!("{e:?}"),
    }
}
