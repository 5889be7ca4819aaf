//! A mutation fuzzer over every input the gate reads and every renderer that shows it:
//! `faultline.yaml` (loader, validator, plan, the text plan, diagnostics as the terminal
//! renders them), scenario files (parser, templates, validator, `explain`, the duration
//! estimate) and `verdict.json` (read back for `report merge` and `repro`; JUnit, Markdown,
//! HTML, annotations, the text verdict); what `faultline init` reads of a repository nobody
//! here wrote (an OpenAPI description, a service's Python code for routes and fallbacks).
//!
//! Inputs start from the files that ship with faultline and are mutated the way the fuzzing
//! that found the first crashes did, with large inputs on purpose: keys and names of 64 KiB,
//! nesting tens of thousands deep, tens of thousands of list entries, huge numbers and
//! durations, control characters. Inputs are capped at 1 MiB. Shared by `tests/fuzz.rs` (a
//! short budget on every run of the suite) and `examples/fuzz.rs` (long runs that print the
//! slowest input).

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use faultline::change::{Change, ChangeStatus, ChangedPath, CommitInfo, RepoPath, RevRef};
use faultline::config::{ConfigOrigin, LoadedConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The largest input: the issue's bound for "no input over 2 s".
pub const MAX_INPUT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Config,
    Scenario,
    Verdict,
    /// A CODEOWNERS file, read by GitHub's rules and by GitLab's.
    Codeowners,
    /// The template of a rendered file (`services.*.files`), rendered for a service with two
    /// edges.
    Template,
    /// An OpenAPI description `faultline init` reads for a workload.
    OpenApi,
    /// A service's Python code, as `faultline init` reads it for routes and fallbacks.
    Python,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Stats {
    pub inputs: u64,
    pub per_kind: [u64; 7],
    pub bytes: u64,
    /// Inputs that panicked, with the panic's message.
    pub panics: Vec<(Kind, Vec<u8>, String)>,
    /// The slowest input: time, kind, size.
    pub slowest: Option<(Duration, Kind, usize)>,
    pub slowest_input: Vec<u8>,
    /// Inputs that took longer than two seconds.
    pub over_two_seconds: u64,
}

pub struct Fuzzer {
    rng: ChaCha8Rng,
    seeds: Vec<(Kind, Vec<u8>)>,
    shop: LoadedConfig,
}

/// A template with placeholders right and wrong, among braces that are not placeholders.
const TEMPLATE: &str = "{\"a\": \"http://{catalog.host}:{catalog.port}/x\", \"b\": \"{pricng.host}\", \"c\": \"{pricing.prt}\", \"{d}\": {}}\nPRICING={pricing.host}:{pricing.port}\n";

/// An OpenAPI 3 description with a path parameter and example bodies of both kinds.
const OPENAPI: &str = "openapi: 3.0.3\npaths:\n  /books/{id}:\n    get: { responses: {} }\n  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            example: { book_id: \"1\", qty: 1 }\n    put:\n      requestBody:\n        content:\n          application/json:\n            examples: { one: { value: [1, 2] } }\n";

/// A Swagger 2 description, in JSON, with a body parameter's example.
const SWAGGER: &str = r#"{"swagger": "2.0", "paths": {"/pay": {"post": {"parameters": [{"in": "body", "schema": {"example": {"amount": 5}}}]}, "delete": {}}}}"#;

/// A configuration that sets every key, so every key is mutated.
const SCENARIO_KEYS: &str = "use: dependency-down\nwith:\n  client: orders\n  dependency: payments\n  request: POST orders /orders\n  status: [503]\n  within: 2s\n  probe: GET orders /stock/A1\n  probe_headers: { Cookie: \"s={n}\" }\n  probe_status: [200]\ndrop_checks: [logs]\nchecks:\n  - on: orders -> payments\n    max_requests: 3\n  - sql: { service: postgres, query: \"SELECT 1\" }\n    expect_rows: 0\n    settled: true\n    within: 5s\nprobes:\n  - request: GET orders /live\n    every: 250ms\n    within: 1s\nsteps:\n  - request: GET orders /stock/A1\n    agrees: { path: $.qty, sql: { service: postgres, query: \"SELECT qty FROM stock\" }, within: 5s }\n  - request: GET orders /count\n    agrees: { path: \"$['n']\", redis: { service: redis, command: [GET, n] } }\n";

const EVERY_KEY: &str = r#"version: 1
services:
  db:
    paths: ["db/**"]
    build: images/db
    prepare: ./tools/build.sh --release && make -C db
    ports: [5432, 9187]
    ready: { log: "ready" }
    env: { POSTGRES_DB: shop }
    reset: postgres
    fingerprint: [sh, -c, "ls /data | md5sum"]
  api:
    paths: ["api/**", "lib/{a,b}/*.rs"]
    image: registry.example/api:1
    ports: [8080]
    ready: { http: /health }
    liveness: { http: /live }
    readiness: { http: /ready }
    files:
      /app/peers.json: { content: "{\"db\": \"{db.host}:{db.port}\", \"c\": \"{cache.host}\"}" }
      /app/x.env: { template: config/x.env }
    depends_on:
      db: { env: DB_URL, url: "postgres://u@{host}:{port}/d", port: 5432, optional: true, host: db.internal, client_port: 15432, errors: [404, 409] }
      cache: { vars: { CACHE_HOST: "{host}", CACHE_PORT: "{port}" } }
  cache:
    build: .
    dockerfile: docker/cache.Dockerfile
    build_args: { VERSION: "7", FLAVOUR: alpine }
    ports: [6379]
    ready: { tcp: 6379 }
global: ["Cargo.lock", ".github/**"]
policy:
  tiers: { high: ["api/**"], medium: ["db/**"], low: ["**/*.md", "docs/"] }
  default_tier: low
  ai_assisted:
    trailers: ["Co-authored-by: .*Claude", "^Assisted-by:"]
    authors: ["^dependabot"]
    labels: ["ai-assisted", "bot"]
    markers: ["Generated with"]
    builtin: false
    assume: true
  gate:
    high: { scenarios: affected, signoff: seniors }
    medium: { scenarios: all }
    low: { scenarios: none, signoff: none }
  ai_gate:
    high: { scenarios: all, signoff: seniors, explore: true, unexercised: unverified, partial_exploration: allow }
  seniors: ["alice@shop.example", "@bob"]
  owners:
    - { paths: ["db/**"], seniors: ["@dba"] }
  codeowners: true
  protected: ["deploy/**", "Makefile"]
  base_branches: [main, "release/*"]
  unclaimed: { scenarios: affected, signoff: seniors, unexercised: warn, partial_exploration: unverified }
  prepare_env: [NPM_TOKEN, GOFLAGS]
isolation:
  image: images/builder
  rust: true
  writable: [services/api/bin, "./out"]
  network: false
  memory: 512m
scenarios: checks/
explore:
  workloads:
    api:
      - request: POST api /orders
        headers: { Idempotency-Key: "k-{n}" }
        body: { sku: "A1", qty: 1 }
        repeat: 2
        expect: { status: [201, 503], within: 3s }
      - request: GET api /stock/A1
        agrees: { path: "$.qty", sql: { service: db, query: "SELECT qty FROM stock", database: shop }, within: 5s }
      - request: GET api /count
        agrees: { path: "$['n'][0]", redis: { service: cache, command: [GET, count] } }
  invariants:
    - when: db
      sql: { service: db, query: "SELECT 1 WHERE false" }
      expect_rows: 0
    - redis: { service: cache, command: [SCARD, pending] }
      expect: "0"
      settled: true
      within: 6s
  max_attempts: 3
  classes: [down, errors-first, lifecycle-start-while-down]
"#;

const TOKENS: &[&str] = &[
    "down: true",
    ":",
    ": ",
    "\n",
    "\n  ",
    "\n    - ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "? ",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "18446744073709551615",
    "-1",
    "0",
    "1e999",
    "NaN",
    "~",
    "null",
    "true",
    "\t",
    "\u{0}",
    "\u{1b}[31m",
    "\u{202e}",
    "é",
    "🤖",
    "${x}",
    "{host}",
    "{port}",
    "{n}",
    "->",
    " -> ",
    "on: ",
    "latency: ",
    "at: ",
    "for: ",
    "repeat: ",
    "concurrency: ",
    "within: ",
    "18446744073709551615s",
    "99999h",
    "1ns",
    "use: ",
    "with: ",
    "target: ",
    "steps: ",
    "checks: ",
    "faults: ",
    "error_rate: 100%",
    "p99: ",
    "rate: 1e9/s",
    "max_attempts_per_request: ",
    "services:",
    "depends_on:",
    "paths: ",
    "inputs: ",
    "\"docs/*.sql\"",
    "!",
    "\\ ",
    "\"[\"",
    "\"{a,\"",
    "version: ",
    "\"decision\":",
    "\"scenarios\":",
    "\"partition\":",
    "{\"index\":0,\"count\":0}",
    "\"steps\":",
    "\"passed\":",
    "protected: ",
    "unclaimed: ",
    "prepare_env: ",
    "markers: ",
    "builtin: ",
    "assume: true",
    "base_branches: ",
    "isolation:",
    "on_runner: ",
    "writable: [../x]",
    "memory: 9999999999999999999g",
    "memory: 1k",
    "rust: true",
    "\"release/*\"",
    "refs/heads/main",
    "signoff: seniors",
    "scenarios: all",
    "\"start_ms\":1e308",
    "\"end_ms\":-1e308",
    "\"name\":\"\\u0000\\n<script>\"",
    "Co-Authored-By: Claude <x>",
    "explore:",
    "workloads:",
    "invariants:",
    "when: ",
    "reset: redis",
    "fingerprint: ",
    "optional: true",
    "fresh: true",
    "explore: true",
    "unexercised: unverified",
    "unexercised: ",
    "partial_exploration: allow",
    "partial_exploration: ",
    "\"not_exercised\":",
    "\"reference_passes\":",
    "max_attempts: ",
    "classes: ",
    "[down, saturation]",
    "vars: ",
    "owners: ",
    "codeowners: true",
    "form: ",
    "capture: ",
    "\"json:/id\"",
    "\"header:location\"",
    "database: ",
    "env: ",
    "\"{db.port}\"",
    "\"{id}\"",
    "liveness: ",
    "readiness: ",
    "settled: true",
    "agrees: ",
    "$.",
    "[0]",
    "['a b']",
    "probes: ",
    "files: ",
    "template: ",
    "content: ",
    "dockerfile: ",
    "build_args: ",
    "host: ",
    "client_port: ",
    "errors: [404, 409]",
    "body_bytes: 262144",
    "body_bytes: 99999999999",
    "errors: [99, 200, 70000]",
    "errors: ",
    "\"{db.host}\"",
    "{pricing.host}",
    "{x.port}",
    "every: ",
    "under_fault: ",
    "{id}",
];

impl Fuzzer {
    /// Seeds from the repository at `root` (the shop, the scenario templates).
    pub fn new(root: &Path, seed: u64) -> Fuzzer {
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        let shop_yaml = read(&root.join("fixtures/shop/faultline.yaml"));
        let shop = faultline::config::parse_bytes(
            "faultline.yaml",
            shop_yaml.clone(),
            ConfigOrigin::Worktree { path: "faultline.yaml".into() },
        )
        .expect("the shop's faultline.yaml is valid");
        let mut seeds = vec![
            (Kind::Config, shop_yaml),
            (Kind::Config, EVERY_KEY.as_bytes().to_vec()),
            (Kind::Config, read(&root.join("fixtures/newsletter/faultline.yaml"))),
        ];
        for dir in ["fixtures/shop/scenarios", "fixtures/newsletter/scenarios", "scenarios"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten().collect();
            files.sort_by_key(|e| e.path());
            for e in files {
                seeds.push((Kind::Scenario, read(&e.path())));
            }
        }
        // Keys no shipped scenario of the shop uses: a template's checks left out, a bound on
        // every request of an edge, a probe with headers and statuses.
        seeds.push((Kind::Scenario, SCENARIO_KEYS.as_bytes().to_vec()));
        let verdict = sample_verdict(&shop);
        // A recorded base result (`--base-results`): one of the verdict's outcomes, with what it is of.
        let outcome = serde_json::from_slice::<serde_json::Value>(&verdict).unwrap_or_default()["scenarios"][0].clone();
        let entry =
            serde_json::json!({ "tree": "2".repeat(40), "service": "orders", "experiment": "x", "outcome": outcome });
        seeds.push((Kind::Verdict, serde_json::to_vec(&entry).unwrap_or_default()));
        seeds.push((Kind::Verdict, verdict));
        seeds.push((Kind::Codeowners, CODEOWNERS_GITHUB.as_bytes().to_vec()));
        seeds.push((Kind::Codeowners, CODEOWNERS_GITLAB.as_bytes().to_vec()));
        seeds.push((Kind::Config, read(&root.join("fixtures/bookstore/faultline.yaml"))));
        seeds.push((Kind::Template, read(&root.join("fixtures/bookstore/faultline/gateway-peers.json"))));
        seeds.push((Kind::Template, TEMPLATE.as_bytes().to_vec()));
        seeds.push((Kind::OpenApi, OPENAPI.as_bytes().to_vec()));
        seeds.push((Kind::OpenApi, SWAGGER.as_bytes().to_vec()));
        seeds.push((Kind::Python, read(&root.join("fixtures/bookstore/services/gateway/app.py"))));
        seeds.push((Kind::Python, read(&root.join("fixtures/newsletter/services/newsletter/app.py"))));
        Fuzzer { rng: ChaCha8Rng::seed_from_u64(seed), seeds, shop }
    }

    /// Runs until `budget` has passed or `max_inputs` ran.
    pub fn run(&mut self, budget: Duration, max_inputs: u64) -> Stats {
        let start = Instant::now();
        let mut stats = Stats::default();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        while start.elapsed() < budget && stats.inputs < max_inputs {
            let (kind, input) = self.next_input();
            let t = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.exercise(kind, &input)));
            let took = t.elapsed();
            stats.inputs += 1;
            stats.per_kind[kind as usize] += 1;
            stats.bytes += input.len() as u64;
            if took > Duration::from_secs(2) {
                stats.over_two_seconds += 1;
            }
            if stats.slowest.is_none_or(|(d, ..)| took > d) {
                stats.slowest = Some((took, kind, input.len()));
                stats.slowest_input = input.clone();
            }
            if let Err(panic) = result {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                stats.panics.push((kind, input, msg));
            }
        }
        std::panic::set_hook(hook);
        stats
    }

    fn next_input(&mut self) -> (Kind, Vec<u8>) {
        let (kind, base) = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
        let mut input = base;
        for _ in 0..self.rng.random_range(1..=4) {
            self.mutate(&mut input);
        }
        input.truncate(MAX_INPUT);
        (kind, input)
    }

    fn mutate(&mut self, b: &mut Vec<u8>) {
        let r = &mut self.rng;
        let at = |r: &mut ChaCha8Rng, b: &Vec<u8>| if b.is_empty() { 0 } else { r.random_range(0..=b.len()) };
        match r.random_range(0..100) {
            0..20 => {
                if !b.is_empty() {
                    let i = r.random_range(0..b.len());
                    b[i] = r.random();
                }
            }
            20..45 => {
                let t = TOKENS[r.random_range(0..TOKENS.len())];
                let i = at(r, b);
                b.splice(i..i, t.bytes());
            }
            45..60 => {
                if !b.is_empty() {
                    let i = r.random_range(0..b.len());
                    let n = r.random_range(1..=(b.len() - i).min(64));
                    b.drain(i..i + n);
                }
            }
            60..72 => {
                if !b.is_empty() {
                    let i = r.random_range(0..b.len());
                    let n = r.random_range(1..=(b.len() - i).min(256));
                    let chunk = b[i..i + n].to_vec();
                    let j = at(r, b);
                    b.splice(j..j, chunk);
                }
            }
            72..80 => {
                // A splice of another seed's text.
                let other = &self.seeds[r.random_range(0..self.seeds.len())].1;
                if !other.is_empty() {
                    let i = r.random_range(0..other.len());
                    let n = r.random_range(1..=(other.len() - i).min(512));
                    let j = at(r, b);
                    b.splice(j..j, other[i..i + n].iter().copied());
                }
            }
            80..86 => {
                // A long run: names and keys of 64 KiB.
                let n = [1_000, 65_535, 65_536, 70_000][r.random_range(0..4)];
                let c = [b'a', b'9', b' ', b'-'][r.random_range(0..4)];
                let i = at(r, b);
                b.splice(i..i, std::iter::repeat_n(c, n));
            }
            86..90 => {
                // Deep nesting.
                let n = r.random_range(100..60_000);
                let open: &[u8] = [b"[".as_slice(), b"{a: ", b"- "][r.random_range(0..3)];
                let i = at(r, b);
                let mut nest = Vec::with_capacity(open.len() * n);
                for _ in 0..n {
                    nest.extend_from_slice(open);
                }
                b.splice(i..i, nest);
            }
            90..94 => {
                // A block of lines repeated: thousands of steps, faults, services.
                let lines: Vec<usize> =
                    b.iter().enumerate().filter(|(_, c)| **c == b'\n').map(|(i, _)| i + 1).collect();
                if lines.len() >= 2 {
                    let s = lines[r.random_range(0..lines.len() - 1)];
                    let e = lines[r.random_range(0..lines.len())].max(s);
                    let block = b[s..e].to_vec();
                    if !block.is_empty() {
                        let times = (r.random_range(10..20_000)).min(MAX_INPUT / block.len());
                        let mut rep = Vec::with_capacity(block.len() * times);
                        for _ in 0..times {
                            rep.extend_from_slice(&block);
                        }
                        b.splice(e..e, rep);
                    }
                }
            }
            94..97 => {
                let n = r.random_range(0..=b.len());
                b.truncate(n);
            }
            _ => {
                let n = r.random_range(1..32);
                let i = at(r, b);
                let bytes: Vec<u8> = (0..n).map(|_| r.random()).collect();
                b.splice(i..i, bytes);
            }
        }
    }

    /// Feeds one input through its loader, validator and every renderer of what comes out.
    pub fn exercise(&self, kind: Kind, input: &[u8]) {
        let text = String::from_utf8_lossy(input).into_owned();
        match kind {
            Kind::Config => match faultline::config::parse_bytes(
                "faultline.yaml",
                input.to_vec(),
                ConfigOrigin::Revision { rev: "main".into(), commit: "0".repeat(40) },
            ) {
                Ok(loaded) => {
                    plan_and_render(&loaded, &text, None);
                    explore_and_render(&loaded);
                }
                Err(e) => render(&e),
            },
            Kind::Scenario => match faultline::scenario::parse("scenarios/fuzz.yaml", text, &self.shop.config) {
                Ok(s) => {
                    let _ = faultline::runner::estimated(&s);
                    let _ = faultline::scenario::author::explain(&s, &self.shop.config);
                }
                Err(e) => render(&e),
            },
            Kind::Verdict => {
                // A recorded base result (`--base-results`) is JSON of the same outcomes.
                if let Ok(entry) = faultline::runner::base_results::Entry::parse(input) {
                    let _ = faultline::report::outcome::render_outcome(&entry.outcome);
                }
                if let Ok(mut report) = serde_json::from_slice::<faultline::outcome::GateReport>(input) {
                    render_report(&report);
                    // Bound to its own plan, so that the merge goes past the binding.
                    if let (Some(run), Some(plan)) = (report.run.as_mut(), report.plan.as_ref()) {
                        run.plan_digest = faultline::outcome::plan_digest(plan);
                    }
                    let given = faultline::verdict::GivenApprovals::from_flags(&["alice@shop.example".into()]);
                    let expected = faultline::report::merge::ExpectedRun::default();
                    if report.partition.is_some()
                        && let Ok(merged) =
                            faultline::report::merge::merge(vec![("v.json".into(), report)], &given, &expected)
                    {
                        render_report(&merged);
                    }
                }
            }
            Kind::Template => {
                let addresses = [("catalog", "catalog", "41000"), ("pricing", "pricing.internal", "8000")];
                if let Err(e) = faultline::config::files::render_file("t.json", &text, "gateway", &addresses) {
                    e.iter().for_each(|d| render(d));
                }
            }
            Kind::OpenApi => {
                let _ = faultline::init::openapi_requests(&text);
            }
            Kind::Python => {
                let deps = ["catalog".to_owned(), "backorders".to_owned(), "mailer".to_owned()];
                let _ = faultline::init::python_findings(&text, &deps);
            }
            Kind::Codeowners => {
                for host in [faultline::plan::CodeHost::GitHub, faultline::plan::CodeHost::GitLab] {
                    let c =
                        faultline::plan::CodeownersText { path: "CODEOWNERS", text: &text, host, host_from: "fuzz" };
                    plan_and_render(&self.shop, "", Some(c));
                }
            }
        }
    }
}

/// Renders a diagnostic as the terminal shows it (the renderer that used to panic).
fn render(e: &dyn miette::Diagnostic) {
    let mut out = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, e);
}

fn render_report(r: &faultline::outcome::GateReport) {
    let _ = faultline::report::junit::render(r);
    let _ = faultline::report::summary::render(r);
    let _ = faultline::report::summary::annotations(r);
    let _ = faultline::report::html::render(r);
    let _ = faultline::report::outcome::render_decision(r.decision, &r.reasons);
    for o in &r.scenarios {
        let _ = faultline::report::outcome::render_outcome(o);
    }
    let _ = serde_json::to_string(r);
}

/// A change touching paths of every kind, with a commit whose message is part of the input,
/// planned against `loaded` and rendered.
fn plan_and_render(loaded: &LoadedConfig, text: &str, codeowners: Option<faultline::plan::CodeownersText<'_>>) {
    let names: Vec<String> = loaded.config.services.keys().cloned().collect();
    let mut paths: Vec<ChangedPath> = [
        "services/payments/src/main.rs",
        "docs/a.md",
        "tools/x\ny",
        "faultline.yaml",
        "Cargo.lock",
        ".cargo/config.toml",
        "build.sh",
    ]
    .iter()
    .map(|p| ChangedPath { path: RepoPath::from(*p), status: ChangeStatus::Modified, old_path: None })
    .collect();
    paths.extend(names.iter().take(3).map(|n| ChangedPath {
        path: RepoPath::from(format!("{n}/x").as_str()),
        status: ChangeStatus::Renamed,
        old_path: Some(RepoPath::from("old")),
    }));
    // A file of each of the first build contexts, which the .dockerignore below may leave out.
    paths.extend(loaded.matchers.contexts.iter().take(3).map(|(d, _)| ChangedPath {
        path: RepoPath::from(format!("{d}/notes/x.md").as_str()),
        status: ChangeStatus::Modified,
        old_path: None,
    }));
    let message: String = text.chars().take(2000).collect();
    let change = Change {
        base: RevRef { rev: "main".into(), commit: "0".repeat(40) },
        head: Some(RevRef { rev: "HEAD".into(), commit: "1".repeat(40) }),
        merge_base: "0".repeat(40),
        paths,
        commits: vec![CommitInfo {
            id: "2".repeat(40),
            summary: message.lines().next().unwrap_or("").to_owned(),
            author: "Dev <dev@example.com>".into(),
            committer: "Copilot <1+Copilot@users.noreply.github.com>".into(),
            trailers: vec![("Co-Authored-By".into(), message.chars().take(100).collect())],
            message,
        }],
    };
    let scenarios = names
        .iter()
        .map(|n| faultline::scenario::ScenarioRef {
            name: format!("{n}\u{1b}-s"),
            target: n.clone(),
            file: "s.yaml".into(),
        })
        .collect();
    let labels = ["ai-assisted".into(), "x".repeat(70_000)];
    // The input's text as every build context's .dockerignore, and as a dep-info file.
    let ignore = faultline::dockerignore::DockerIgnore::parse(text);
    let ignores: Vec<_> = loaded.matchers.contexts.iter().map(|(d, _)| (d.clone(), ignore.clone())).collect();
    let _ = faultline::runner::depinfo::parse(text);
    let inputs = faultline::plan::PlanInputs {
        labels: &labels,
        author: Some("copilot-swe-agent[bot]"),
        codeowners,
        ignores: &ignores,
    };
    match faultline::plan::from_parts(change, loaded, scenarios, inputs) {
        Ok(mut plan) => {
            let _ = faultline::report::plan::render_text(&plan);
            // The gate's plan also names the protected branch of the base, from refs and a
            // configuration of the input's own text.
            plan.base_branch = Some(faultline::plan::BaseBranch {
                branch: text.chars().take(300).collect(),
                reference: "refs/remotes/origin/\u{1b}[31mmain".into(),
                tip: "1".repeat(40),
                behind: usize::MAX,
                listed_by: text.chars().rev().take(300).collect(),
                has_config: false,
            });
            let _ = faultline::report::plan::render_text(&plan);
            let _ = serde_json::to_string(&plan);
            let given = faultline::verdict::GivenApprovals::from_flags(&["@a".into(), "alice@shop.example".into()]);
            let sign = faultline::verdict::signoff(&plan, &given);
            let _ = (sign.line(), sign.missing_reason());
        }
        Err(e) => render(&e),
    }
}

/// Every experiment exploration would generate for each workload, over every edge of the
/// configuration as if the reference run had used it.
fn explore_and_render(loaded: &LoadedConfig) {
    use faultline::scenario::experiments::{
        FirstUse, UsedEdge, catalogue, declared_edges, fallback, reference, reference_passes, workload,
    };
    let used: Vec<UsedEdge> = loaded
        .config
        .services
        .iter()
        .flat_map(|(from, s)| {
            s.depends_on.keys().map(move |to| UsedEdge {
                from: from.clone(),
                to: to.clone(),
                http: to.len() % 2 == 0,
                passes: 1 + to.len() as u32 % 3,
                statuses: vec![404, 200, to.len() as u16 % 700],
                first: (to.len() % 2 == 1).then(|| FirstUse { step: to.len() % 4, start_ms: to.len() as u64 * 37 }),
                calls: to.len() as u32 % 5,
            })
        })
        .take(20)
        .collect();
    for service in loaded.config.explore.workloads.keys().take(3) {
        match workload(loaded, service) {
            Ok(w) => {
                if let Ok(r) = reference(&w, &loaded.config) {
                    let first = vec![service.clone()];
                    let declared = declared_edges(&loaded.config, &r.scenario.stack);
                    let _ = reference_passes(&w, &loaded.config, 4);
                    if let Ok(x) = catalogue(&w, &loaded.config, &used, &r.scenario.stack, &first, 1234.5)
                        && let (Some(trigger), Some((from, to))) = (x.first(), declared.last())
                    {
                        let edge = UsedEdge {
                            from: from.clone(),
                            to: to.clone(),
                            http: true,
                            passes: 1,
                            statuses: vec![409],
                            first: None,
                            calls: 2,
                        };
                        let _ = fallback(&w, &loaded.config, &edge, trigger);
                    }
                }
            }
            Err(e) => render(&e),
        }
    }
}

/// GitHub's example CODEOWNERS ("About code owners"), with what GitHub does not support.
const CODEOWNERS_GITHUB: &str = "# comment\n*       @global-owner1 @global-owner2\n*.js    @js-owner #inline\n*.go docs@example.com\n*.txt @octo-org/octocats\n/build/logs/ @doctocat\ndocs/*  docs@example.com\napps/ @octocat\n/docs/ @doctocat\n**/logs @octocat\n/apps/github\n!x @a\n[ch] @b\n\\#c @c\npath\\ with\\ space/ @d\n";

/// GitLab's sections, defaults, optional sections, approval counts, exclusions, roles.
const CODEOWNERS_GITLAB: &str = "* @admin\n!pom.xml\n[Documentation][2] @docs-team\ndocs/\nREADME.md @doc @x@y.z\n^[Go] @go\n*.go\n[DOCUMENTATION]\n/config/**/*.rb @@maintainer\n[Section name\n\\#file [ab].c @e\n";

/// A verdict.json of the shop, as the gate writes one.
fn sample_verdict(shop: &LoadedConfig) -> Vec<u8> {
    let change = Change {
        base: RevRef { rev: "main".into(), commit: "0".repeat(40) },
        head: Some(RevRef { rev: "HEAD".into(), commit: "1".repeat(40) }),
        merge_base: "0".repeat(40),
        paths: vec![ChangedPath {
            path: RepoPath::from("services/payments/src/main.rs"),
            status: ChangeStatus::Modified,
            old_path: None,
        }],
        commits: Vec::new(),
    };
    let refs = vec![faultline::scenario::ScenarioRef {
        name: "payments-slow".into(),
        target: "orders".into(),
        file: "scenarios/payments-slow.yaml".into(),
    }];
    let mut plan = faultline::plan::from_parts(change, shop, refs, Default::default()).expect("a plan of the shop");
    plan.base_branch = Some(faultline::plan::BaseBranch {
        branch: "main".into(),
        reference: "refs/remotes/origin/main".into(),
        tip: "0".repeat(40),
        behind: 0,
        listed_by: "policy.base_branches of main".into(),
        has_config: true,
    });
    let v = serde_json::json!({
        "version": 1, "decision": "block", "reasons": ["scenario payments-slow failed"], "seed": 7,
        "plan": plan,
        "signoff": {"required": true, "seniors": ["alice@shop.example"],
                    "approvals": [{"email": "alice@shop.example", "source": "--approved-by", "senior": true}],
                    "satisfied": true, "ignored": []},
        "scenarios": [{
            "name": "payments-slow", "file": "scenarios/payments-slow.yaml", "target": "orders", "why": "INC-2231",
            "seed": 7, "status": "failed", "error": null,
            "steps": [{"index": 0, "step": "POST orders /orders ×3", "passed": false, "expected": "status in [201]",
                       "observed": "3× 504", "start_ms": 0.0, "end_ms": 3000.0}],
            "checks": [{"index": 0, "line": 12, "check": "at most 3 attempts", "passed": true, "expected": "≤ 3",
                        "observed": "1"}],
            "edges": {}, "edge_offsets_ms": {"orders -> payments": -10.0},
            "faults": [{"name": "faults[0]", "on": "orders -> payments", "what": "latency=4s", "start_ms": 0.0, "end_ms": 3000.0}],
            "checks_ms": 3100.0, "stack_seconds": 2.0, "run_seconds": 3.0, "teardown_seconds": 0.5,
            "repro": "faultline run --scenario payments-slow --seed 7"
        }],
        "timings": {"plan_seconds": 0.0, "build_seconds": 0.0, "images_seconds": 0.0, "scenarios_seconds": 0.0,
                    "stacks_seconds": 0.0, "runs_seconds": 0.0, "teardown_seconds": 0.0, "total_seconds": 0.0},
        "exploration": [{"service": "orders", "seed": 7, "edges": ["orders -> payments"], "reference_passes": 4,
                         "not_exercised": [{"edge": "orders -> redis", "why": "no traffic in 4 passes"}],
                         "planned": 0, "ran": [], "skipped": [], "unexplored": [], "seconds": 0.0}],
        "partition": {"index": 1, "count": 1},
        "run": {"base": "0".repeat(40), "head": "1".repeat(40), "config_digest": "c".repeat(64),
                "plan_digest": faultline::outcome::plan_digest(&plan)},
        "prepare": []
    });
    serde_json::to_vec_pretty(&v).expect("serialisable")
}
