//! Stacks shared between scenarios, against the real Docker Engine: a scenario that dirties
//! every stateful service (rows, a new database, keys, files in an application's container,
//! log lines) is followed by one that must see none of it, on a stack that was reset and
//! proven by fingerprints; a file left in a database's container is caught by the
//! fingerprint and the stack discarded for a fresh one.

mod common;

use std::path::Path;

use faultline::config;
use faultline::outcome::{ScenarioOutcome, Status};
use faultline::runner::pool::StackPool;
use faultline::scenario::validate::Scenario;
use faultline::stack::RunOptions;

const CONFIG: &str = concat!(
    "version: 1\nservices:\n",
    data_services!(),
    r#"  api:
    build: fixtures/images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api }
    depends_on:
      postgres: { env: DATABASE_URL, url: "postgres://shop@{host}:{port}/shop" }
      redis: { env: REDIS_URL, url: "redis://{host}:{port}" }
"#
);

/// Leaves something behind in every service, and proves it did.
const DIRTY: &str = r#"name: dirty
target: api
why: leaves state everywhere
steps:
  - exec: { service: postgres, cmd: [psql, -U, shop, -d, shop, -c, "CREATE TABLE dirt (x int); INSERT INTO dirt VALUES (1), (2)"] }
  - exec: { service: postgres, cmd: [psql, -U, shop, -d, shop, -c, "CREATE DATABASE extra"] }
  - exec: { service: redis, cmd: [redis-cli, SET, dirt, "1"] }
  - exec: { service: api, cmd: [sh, -c, "echo dirt > /tmp/dirt && echo DIRTY-LOG-LINE > /proc/1/fd/1"] }
  - request: GET api /health
checks:
  - sql: { service: postgres, query: "SELECT count(*) FROM dirt" }
    expect: "2"
  - redis: { service: redis, command: [GET, dirt] }
    expect: "1"
  - logs: { service: api, require: ["DIRTY-LOG-LINE"] }
"#;

/// Sees nothing of what `dirty` left.
const CLEAN: &str = r#"name: clean
target: api
why: every scenario starts from the first-ready state
steps:
  - exec: { service: api, cmd: [sh, -c, "test ! -e /tmp/dirt"] }
  - request: GET api /health
checks:
  - sql: { service: postgres, query: "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'" }
    expect: "0"
  - sql: { service: postgres, query: "SELECT count(*) FROM pg_database WHERE datname = 'extra'" }
    expect: "0"
  - redis: { service: redis, command: [DBSIZE] }
    expect: "0"
  - logs: { service: api, forbid: ["DIRTY-LOG-LINE"] }
"#;

/// Leaves a file in the database's container, which no reset of a running server removes.
const LITTER: &str = r#"name: litter
target: api
why: a file outside the data directory
steps:
  - exec: { service: postgres, cmd: [sh, -c, "echo x > /tmp/litter"] }
"#;

fn config() -> config::Config {
    common::parse_config(CONFIG)
}

fn scenario(cfg: &config::Config, name: &str, text: &str) -> Scenario {
    faultline::scenario::parse(&format!("scenarios/{name}.yaml"), text.to_owned(), cfg).unwrap()
}

fn opts() -> RunOptions {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    RunOptions::new(11, root, std::time::Duration::from_secs(60), "faultline run".into())
}

/// Runs `order` through one pool, in order; every outcome must pass.
async fn run_all(cfg: &config::Config, order: &[&Scenario]) -> (Vec<ScenarioOutcome>, faultline::outcome::PoolCounts) {
    let pool = StackPool::new(order.iter().copied());
    let opts = opts();
    let mut outcomes = Vec::new();
    for s in order {
        outcomes.push(pool.run(s, cfg, &opts).await);
    }
    let (_, counts) = pool.finish().await;
    for o in &outcomes {
        passed(o);
    }
    (outcomes, counts)
}

fn passed(o: &ScenarioOutcome) {
    assert_eq!(o.status, Status::Passed, "{}: {:?} {:#?} {:#?}", o.name, o.error, o.steps, o.checks);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_stack_keeps_nothing_of_the_scenario_before() {
    // RUST_LOG=faultline=info shows each phase of every reset.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cfg = config();
    let (dirty, clean) = (scenario(&cfg, "dirty", DIRTY), scenario(&cfg, "clean", CLEAN));
    let order = [&dirty, &clean, &dirty, &clean];
    let (outcomes, counts) = run_all(&cfg, &order).await;
    // One stack, started once and reset three times, never discarded.
    assert!(!outcomes[0].stack.reused);
    for o in &outcomes[1..] {
        assert!(o.stack.reused, "{}: {:?}", o.name, o.stack);
        assert_eq!(o.stack.discarded, None);
    }
    assert_eq!((counts.started, counts.reused, counts.discarded), (1, 3, 0), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_left_in_a_database_container_discards_the_stack() {
    let cfg = config();
    let (litter, clean) = (scenario(&cfg, "litter", LITTER), scenario(&cfg, "clean", CLEAN));
    let check = scenario(
        &cfg,
        "no-litter",
        "name: no-litter\ntarget: api\nwhy: x\nsteps:\n  - exec: { service: postgres, cmd: [sh, -c, \"test ! -e /tmp/litter\"] }\n",
    );
    let order = [&litter, &check, &clean];
    let (outcomes, counts) = run_all(&cfg, &order).await;
    let discarded = outcomes[1].stack.discarded.as_deref().unwrap_or_default();
    assert!(!outcomes[1].stack.reused && discarded.contains("/tmp/litter"), "{:?}", outcomes[1].stack);
    assert!(outcomes[2].stack.reused, "{:?}", outcomes[2].stack);
    assert_eq!((counts.started, counts.reused, counts.discarded), (2, 1, 1), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_can_ask_for_a_stack_of_its_own() {
    let cfg = config();
    let clean = scenario(&cfg, "clean", CLEAN);
    let own = scenario(&cfg, "own", &CLEAN.replace("name: clean", "name: own\nfresh: true"));
    assert!(own.fresh);
    let order = [&clean, &own, &clean];
    let (outcomes, counts) = run_all(&cfg, &order).await;
    assert!(!outcomes[1].stack.reused);
    assert!(outcomes[2].stack.reused);
    assert_eq!((counts.started, counts.reused), (2, 1), "{counts:?}");
}

/// Through the binary: the gate does not run a scenario on a stack an earlier scenario left
/// something in that a reset cannot take back; it starts a fresh one and says why.
#[test]
fn the_gate_discards_a_stack_a_scenario_littered() {
    let config = concat!(
        "version: 1\nservices:\n",
        "  postgres:\n    build: images/postgres\n    ports: [5432]\n",
        "    ready: { log: \"database system is ready to accept connections\" }\n",
        "    env: { POSTGRES_USER: shop, POSTGRES_DB: shop }\n",
        "  api:\n    paths: [\"api/**\"]\n    build: images/relay\n    ports: [8080]\n    ready: { http: /health }\n",
        "    depends_on:\n      postgres: { env: DATABASE_URL, url: \"postgres://shop@{host}:{port}/shop\" }\n",
        "policy:\n  tiers:\n    high: [\"**\"]\n  gate:\n    high: { scenarios: all }\n",
    );
    // The longer one runs first on the one stack of these services (--jobs 1, none ahead).
    let litter = "name: a-litter\ntarget: api\nwhy: x\nsteps:\n  - exec: { service: postgres, cmd: [sh, -c, \"echo x > /tmp/litter\"] }\n  - sleep: 2s\n";
    let check = "name: b-check\ntarget: api\nwhy: x\nsteps:\n  - exec: { service: postgres, cmd: [sh, -c, \"test ! -e /tmp/litter\"] }\n";
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/postgres");
    let dockerfile = std::fs::read_to_string(image.join("Dockerfile")).unwrap();
    let entrypoint = std::fs::read_to_string(image.join("entrypoint.sh")).unwrap();
    let r = common::TestRepo::relay(
        config,
        &[("a-litter", litter), ("b-check", check)],
        &[
            ("api/main.txt", "v1\n"),
            ("images/postgres/Dockerfile", &dockerfile),
            ("images/postgres/entrypoint.sh", &entrypoint),
        ],
    );
    std::fs::set_permissions(
        r.path.join("images/postgres/entrypoint.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    r.write("api/main.txt", "v2\n");
    r.commit("api change");
    let (code, v, text) =
        r.with_report(&["gate", "--base", "main", "--seed", "1", "--jobs", "1", "--stacks-ahead", "0"], &[]);
    assert_eq!(code, 0, "{text}");
    let check = v["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "b-check").unwrap();
    assert!(check["stack"]["discarded"].as_str().is_some_and(|d| d.contains("/tmp/litter")), "{check}");
    assert_eq!(v["timings"]["stacks"]["started"], 2, "{}", v["timings"]);
    assert_eq!(v["timings"]["stacks"]["discarded"], 1, "{}", v["timings"]);
}
