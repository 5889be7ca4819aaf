//! Authoring helpers, through the real binary on real repositories (no Docker needed):
//! `scenario new`, `scenario lint`, `scenario explain`, `init`.

use std::path::Path;
use std::process::{Command, Output};

fn faultline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn shop() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = faultline::demo::create_shop(dir.path()).unwrap();
    (dir, root)
}

#[test]
fn scenario_new_writes_a_valid_start_and_never_overwrites() {
    let (_d, root) = shop();
    let out = faultline(
        &root,
        &["scenario", "new", "orders-db-stall", "--target", "orders", "--template", "database-paused"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let path = root.join("scenarios/orders-db-stall.yaml");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("use: database-paused\n"), "{written}");
    assert!(written.contains("  client: orders"), "{written}");
    assert!(written.contains("  database: postgres"), "the dependency that is a database: {written}");
    let lint = faultline(&root, &["scenario", "lint", "scenarios/orders-db-stall.yaml"]);
    assert!(lint.status.success(), "{}", text(&lint));
    assert!(text(&lint).contains("warning: scenarios/orders-db-stall.yaml still says TODO"), "{}", text(&lint));

    std::fs::write(&path, "name: mine\n").unwrap();
    let again = faultline(&root, &["scenario", "new", "orders-db-stall", "--target", "orders"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("exists; pick another name (nothing was written)"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "name: mine\n", "the user's file is untouched");

    // Without a template, and with bad input.
    let out = faultline(&root, &["scenario", "new", "plain", "--target", "payments"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(faultline(&root, &["scenario", "lint", "scenarios/plain.yaml"]).status.success());
    let out = faultline(&root, &["scenario", "new", "x", "--target", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("`nope` is not a service of faultline.yaml"), "{}", text(&out));
    let out = faultline(&root, &["scenario", "new", "x", "--target", "orders", "--template", "slow"]);
    assert!(text(&out).contains("`slow` is not a template"), "{}", text(&out));
    assert!(!root.join("scenarios/x.yaml").exists());
}

#[test]
fn scenario_lint_checks_every_file_with_locations() {
    let (_d, root) = shop();
    let out = faultline(&root, &["scenario", "lint"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("8 of 8 scenario files valid"), "{}", text(&out));
    std::fs::write(
        root.join("scenarios/bad.yaml"),
        "target: orders\nwhy: w\nfaults:\n  - on: orders -> paymnts\n    latency: 1s\n",
    )
    .unwrap();
    let out = faultline(&root, &["scenario", "lint"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("scenarios/bad.yaml:4:9") && t.contains("did you mean `orders -> payments`?"), "{t}");
    assert!(t.contains("8 of 9 scenario files valid"), "{t}");
}

#[test]
fn scenario_explain_says_what_it_starts_faults_and_checks() {
    let (_d, root) = shop();
    let out = faultline(&root, &["scenario", "explain", "postgres-paused"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for part in [
        "starts a fresh stack for payments, level by level:\n  1. postgres\n  2. payments",
        "every edge through faultline's proxy: payments -> postgres",
        "faults[0]: pause on the container of postgres from 0s for 3s",
        "1. POST payments /charges ×1 (1 at once), status in [201, 503], each within 2s 500ms",
        "1. GET payments /ready succeeds again within 15s",
        "2. logs of payments: no line matches /panicked at/",
    ] {
        assert!(t.contains(part), "lacks {part:?}:\n{t}");
    }
    let out = faultline(&root, &["scenario", "explain", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no scenario named `nope`"));
}

fn git_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    assert!(Command::new("git").args(["init", "-q"]).current_dir(d.path()).status().unwrap().success());
    d
}

#[test]
fn init_reads_a_compose_file_and_never_overwrites() {
    let d = git_repo();
    let root = d.path();
    std::fs::write(
        root.join("docker-compose.yml"),
        r#"services:
  web:
    build: ./web
    ports: ["8080:80"]
    depends_on: [api]
  api:
    build: { context: ./api }
    ports: ["127.0.0.1:9000:3000/tcp"]
    depends_on:
      db: { condition: service_healthy }
      cache: { condition: service_started }
  db:
    image: postgres:16
    expose: ["5432"]
  cache:
    image: redis:7
    ports: [6379]
"#,
    )
    .unwrap();
    let out = faultline(root, &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = std::fs::read_to_string(root.join("faultline.yaml")).unwrap();
    for part in [
        "  web:\n    paths: [\"web/**\"]\n    build: web\n    ports: [80]",
        "  api:\n    paths: [\"api/**\"]\n    build: api\n    ports: [3000]",
        "      db: { env: DB_URL, url: \"postgres://postgres@{host}:{port}/postgres\" }",
        "      cache: { env: CACHE_URL, url: \"redis://{host}:{port}\" }",
        "      api: { env: API_URL, url: \"http://{host}:{port}\" }",
        "  db:\n    image: postgres:16",
    ] {
        assert!(yaml.contains(part), "lacks {part:?}:\n{yaml}");
    }
    // It is a valid faultline.yaml: plan reads it.
    let origin = faultline::config::ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    faultline::config::parse_bytes("faultline.yaml", yaml.clone().into_bytes(), origin).unwrap();

    let out = faultline(root, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("exists; faultline init never overwrites it"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(root.join("faultline.yaml")).unwrap(), yaml);
}

#[test]
fn init_reads_dockerfiles_when_there_is_no_compose_file() {
    let d = git_repo();
    let root = d.path();
    for (dir, expose) in [("services/billing", "EXPOSE 8080\n"), ("services/mailer", "EXPOSE 25/tcp 587\n")] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join("Dockerfile"), format!("FROM debian:bookworm-slim\n{expose}")).unwrap();
    }
    std::fs::create_dir_all(root.join("target/x")).unwrap();
    std::fs::write(root.join("target/x/Dockerfile"), "FROM scratch\n").unwrap();
    let out = faultline(root, &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = std::fs::read_to_string(root.join("faultline.yaml")).unwrap();
    assert!(
        yaml.contains(
            "  billing:\n    paths: [\"services/billing/**\"]\n    build: services/billing\n    ports: [8080]"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("  mailer:") && yaml.contains("ports: [25, 587]"), "{yaml}");
    assert!(!yaml.contains("  x:"), "build outputs are skipped: {yaml}");

    let empty = git_repo();
    let out = faultline(empty.path(), &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("found no docker-compose file and no Dockerfile"), "{}", text(&out));
    assert!(!empty.path().join("faultline.yaml").exists());
}

/// A web service nobody here wrote, laid out as many are: one Dockerfile at the root, no
/// compose file, its database, cache and email API named only in its configuration,
/// manifests and migrations.
#[test]
fn init_finds_the_database_cache_and_apis_a_root_dockerfile_app_uses() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("zero2prod");
    std::fs::create_dir_all(root.join("configuration")).unwrap();
    std::fs::create_dir_all(root.join("migrations")).unwrap();
    assert!(Command::new("git").args(["init", "-q"]).current_dir(&root).status().unwrap().success());
    for (path, text) in [
        (
            "Dockerfile",
            "FROM rust:1.80-slim AS builder\nRUN cargo build --release\nFROM debian:bookworm-slim AS runtime\nCOPY --from=builder /app/target/release/zero2prod zero2prod\nEXPOSE 8000\n",
        ),
        (
            "Cargo.toml",
            "[package]\nname = \"zero2prod\"\n\n[dependencies]\nsqlx = { version = \"0.8\", features = [\"postgres\"] }\n",
        ),
        (
            "configuration/base.yaml",
            "application:\n  port: 8000\ndatabase:\n  host: \"127.0.0.1\"\n  port: 5432\nemail_client:\n  base_url: \"https://api.postmarkapp.com\"\nredis_uri: \"redis://127.0.0.1:6379\"\n",
        ),
        ("migrations/20240101_create_subscriptions.sql", "CREATE TABLE subscriptions (id uuid);\n"),
    ] {
        std::fs::write(root.join(path), text).unwrap();
    }
    let out = faultline(&root, &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = std::fs::read_to_string(root.join("faultline.yaml")).unwrap();
    for part in [
        "  zero2prod:\n    paths: [\"**\"]\n    build: .\n    ports: [8000]",
        "      postgres: { env: POSTGRES_URL, url: \"postgres://postgres@{host}:{port}/postgres\" }",
        "      redis: { env: REDIS_URL, url: \"redis://{host}:{port}\" }",
        "  # found: a migrations folder of SQL files in migrations (and 2 more signs)\n  postgres:\n    image: postgres:16",
        "    env: { POSTGRES_HOST_AUTH_METHOD: trust }\n    ports: [5432]",
        "  # found: a `redis://` URL in configuration/base.yaml:8\n  redis:\n    image: redis:7",
        "# TODO: it calls api.postmarkapp.com (configuration/base.yaml:7)",
        "# its Dockerfile pulls rust:1.80-slim, debian:bookworm-slim from a registry",
    ] {
        assert!(yaml.contains(part), "lacks {part:?}:\n{yaml}");
    }
    assert!(
        text(&out).contains("note: the Dockerfiles pull rust:1.80-slim, debian:bookworm-slim from a registry"),
        "{}",
        text(&out)
    );
    // It is a valid faultline.yaml: plan reads it.
    let origin = faultline::config::ConfigOrigin::Worktree { path: "faultline.yaml".into() };
    faultline::config::parse_bytes("faultline.yaml", yaml.clone().into_bytes(), origin).unwrap();
}
