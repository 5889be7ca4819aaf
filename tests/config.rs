//! faultline.yaml mistakes: each names the file, line and column, what was expected, and for
//! a misspelling the nearest valid key. Also the JSON Schema, and no panic on any input.

mod common;

use common::{SHOP_CONFIG, TestRepo, stderr};
use faultline::config::{self, ConfigError, ConfigOrigin, SourceFile};
use proptest::prelude::*;

fn origin() -> ConfigOrigin {
    ConfigOrigin::Worktree { path: "faultline.yaml".into() }
}

/// The problems of `text` as `file:line:column: message` lines, with their help.
fn problems(text: &str) -> Vec<(String, Option<String>)> {
    match config::parse(SourceFile::new("faultline.yaml", text.to_owned()), origin()) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.to_string(), p.help.clone())).collect()
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle") + 1
}

#[test]
fn the_shop_config_is_valid() {
    assert_eq!(problems(SHOP_CONFIG), vec![]);
}

#[test]
fn misspelled_key_names_position_and_nearest_key() {
    let text = SHOP_CONFIG.replacen("    depends_on:\n      payments:", "    dependson:\n      payments:", 1);
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    let line = line_of(&text, "dependson");
    assert!(
        p[0].0.starts_with(&format!("faultline.yaml:{line}:5: services.orders: unknown field `dependson`")),
        "{p:?}"
    );
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `depends_on`?"), "{p:?}");
}

#[test]
fn misspelled_enum_value_gets_nearest_value() {
    let text = SHOP_CONFIG.replace("medium: { scenarios: affected }", "medium: { scenarios: afected }");
    let p = problems(&text);
    let line = line_of(&text, "afected");
    assert!(
        p[0].0
            .starts_with(&format!("faultline.yaml:{line}:26: policy.gate.medium.scenarios: unknown variant `afected`")),
        "{p:?}"
    );
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `affected`?"), "{p:?}");
}

#[test]
fn a_misspelled_unexercised_policy_is_located_with_the_nearest_value() {
    let text = SHOP_CONFIG
        .replace("medium: { scenarios: affected }", "medium: { scenarios: affected, unexercised: unverifed }");
    let p = problems(&text);
    let line = line_of(&text, "unverifed");
    assert!(
        p[0].0.starts_with(&format!(
            "faultline.yaml:{line}:49: policy.gate.medium.unexercised: unknown variant `unverifed`"
        )),
        "{p:?}"
    );
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `unverified`?"), "{p:?}");
    // Both values load; the plan's rule carries it.
    for v in ["warn", "unverified"] {
        let ok = SHOP_CONFIG.replace(
            "medium: { scenarios: affected }",
            &format!("medium: {{ scenarios: affected, unexercised: {v} }}"),
        );
        assert_eq!(problems(&ok), vec![], "{v}");
    }
}

#[test]
fn a_misspelled_partial_exploration_is_located_with_the_nearest_value() {
    let text = SHOP_CONFIG
        .replace("medium: { scenarios: affected }", "medium: { scenarios: affected, partial_exploration: alow }");
    let p = problems(&text);
    let line = line_of(&text, "alow");
    assert!(
        p[0].0.starts_with(&format!(
            "faultline.yaml:{line}:57: policy.gate.medium.partial_exploration: unknown variant `alow`"
        )),
        "{p:?}"
    );
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `allow`?"), "{p:?}");
    for v in ["allow", "unverified"] {
        let ok = SHOP_CONFIG.replace(
            "medium: { scenarios: affected }",
            &format!("medium: {{ scenarios: affected, partial_exploration: {v} }}"),
        );
        assert_eq!(problems(&ok), vec![], "{v}");
    }
    let typo = SHOP_CONFIG
        .replace("medium: { scenarios: affected }", "medium: { scenarios: affected, partial_explore: allow }");
    let p = problems(&typo);
    assert!(p[0].1.as_deref().unwrap_or_default().contains("partial_exploration"), "{p:?}");
}

#[test]
fn wrong_type_is_located() {
    let text = SHOP_CONFIG.replace("ports: [5432]", "ports: [fivefourthreetwo]");
    let p = problems(&text);
    let line = line_of(&text, "fivefour");
    assert!(p[0].0.starts_with(&format!("faultline.yaml:{line}:")), "{p:?}");
    assert!(p[0].0.contains("invalid type") || p[0].0.contains("invalid value"), "{p:?}");
}

#[test]
fn unknown_dependency_suggests_a_service() {
    let text = SHOP_CONFIG.replace("      payments: { env: PAYMENTS_URL", "      paymnts: { env: PAYMENTS_URL");
    let p = problems(&text);
    let line = line_of(&text, "paymnts");
    assert_eq!(p[0].0, format!("faultline.yaml:{line}:7: `orders` depends on `paymnts`, which is not a service"));
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `payments`?"), "{p:?}");
}

#[test]
fn cycle_is_named_and_located() {
    let text = SHOP_CONFIG.replace(
        "    ready: { log: \"database system is ready to accept connections\" }\n",
        "    ready: { log: \"database system is ready to accept connections\" }\n    depends_on:\n      web: { env: WEB_URL }\n",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    // Found from the first service in name order, and located at the edge that starts it.
    assert!(p[0].0.contains("dependency cycle: orders -> payments -> postgres -> web -> orders"), "{p:?}");
    let line = line_of(&text, "payments: { env: PAYMENTS_URL");
    assert!(p[0].0.starts_with(&format!("faultline.yaml:{line}:7:")), "{p:?}");
}

#[test]
fn self_dependency_is_a_cycle() {
    let text = SHOP_CONFIG.replace("      orders: { env: ORDERS_URL", "      web: { env: ORDERS_URL");
    let p = problems(&text);
    assert!(p.iter().any(|(m, _)| m.contains("dependency cycle: web -> web")), "{p:?}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = SHOP_CONFIG
        .replace("    build: services/web\n", "")
        .replace("\"redis://{host}:{port}\"", "\"redis://{hots}:{port}\"")
        .replace("\"**/migrations/**\"", "\"**/migrations/[**\"")
        .replace("\"^dependabot\"", "\"(unclosed\"")
        .replace("ready: { tcp: 6379 }", "ready: { tcp: 6379, http: health }");
    let p = problems(&text);
    let msgs: Vec<&str> = p.iter().map(|(m, _)| m.as_str()).collect();
    let want = [
        "`ready` of `redis` needs exactly one of `log`, `http`, `tcp` (2 given)",
        "`ready.http` must be a path starting with `/`, found `health`",
        "unknown placeholder `{hots}` in `redis://{hots}:{port}`",
        "service `web` has neither `build` nor `image`",
        "glob does not compile",
        "invalid regex",
    ];
    for w in want {
        assert!(msgs.iter().any(|m| m.contains(w)), "missing {w:?} in {msgs:#?}");
    }
    // Sorted by position, each with file:line:column.
    let lines: Vec<usize> = msgs.iter().map(|m| m.split(':').nth(1).unwrap().parse().unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    let hots = p.iter().find(|(m, _)| m.contains("{hots}")).unwrap();
    assert!(hots.1.as_deref().unwrap().contains("did you mean `{host}`?"));
}

#[test]
fn liveness_and_readiness_are_paths_on_a_port() {
    let ok = SHOP_CONFIG.replacen(
        "    ready: { http: /health }\n    depends_on:\n      postgres:",
        "    ready: { http: /health }\n    liveness: { http: /live }\n    readiness: { http: /ready }\n    depends_on:\n      postgres:",
        1,
    );
    assert_ne!(ok, SHOP_CONFIG);
    assert_eq!(problems(&ok), vec![]);
    let text = ok.replace("liveness: { http: /live }", "liveness: { http: live now }").replace(
        "    build: fixtures/images/redis\n    ports: [6379]\n",
        "    build: fixtures/images/redis\n    readiness: { http: /ready }\n",
    );
    let p = problems(&text);
    let live = line_of(&text, "live now");
    assert!(
        p.iter().any(|(m, h)| m.starts_with(&format!("faultline.yaml:{live}:23:"))
            && m.contains("`liveness.http` must be a path starting with `/`, without spaces, found `live now`")
            && h.as_deref().is_some_and(|h| h.contains("liveness: { http: /live }"))),
        "{p:?}"
    );
    assert!(p.iter().any(|(m, _)| m.contains("`readiness` needs a port, and `redis` has no `ports`")), "{p:?}");
    // A misspelled key of one says what it takes.
    let p = problems(&ok.replace("liveness: { http: /live }", "liveness: { path: /live }"));
    assert!(
        p.iter().any(|(m, h)| m.contains("unknown field `path`") && h.as_deref().is_some_and(|h| h.contains("http"))),
        "{p:?}"
    );
}

#[test]
fn signoff_without_seniors_and_bad_versions() {
    let text = SHOP_CONFIG.replace("  seniors: [\"alice@shop.example\"]\n", "").replace("version: 1", "version: 2");
    let p = problems(&text);
    assert!(p[0].0.starts_with("faultline.yaml:1:10: unsupported version 2"), "{p:?}");
    assert!(p.iter().any(|(m, _)| m.contains("`policy.seniors` is empty")), "{p:?}");
}

#[test]
fn overlapping_claims_name_both_services_and_the_path() {
    let repo = TestRepo::shop();
    let overlapping = SHOP_CONFIG
        .replace("paths: [\"services/web/**\"]", "paths: [\"services/web/**\", \"services/orders/src/*.rs\"]");
    repo.write("faultline.yaml", overlapping);
    repo.commit("overlap");
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("services/orders/src/main.rs", "fn main() { changed(); }\n");
    repo.commit("change");
    let out = repo.faultline(&["plan", "--base", "main"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("changed path services/orders/src/main.rs is claimed by two services: `orders` (\"services/orders/**\") and `web` (\"services/orders/src/*.rs\")"),
        "{err}"
    );
}

#[test]
fn scenario_with_unknown_target_is_located_with_valid_names() {
    let repo = TestRepo::shop();
    repo.write("scenarios/bad.yaml", "name: bad\nwhy: x\ntarget: order\n");
    repo.commit("bad scenario");
    let out = repo.faultline(&["plan", "--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("scenarios/bad.yaml:3:9: target `order` is not a service"), "{err}");
    assert!(err.contains("did you mean `orders`?"), "{err}");
}

#[test]
fn cli_prints_snippet_and_exits_2() {
    let repo = TestRepo::shop();
    repo.write("faultline.yaml", SHOP_CONFIG.replace("global:", "globals:"));
    let out = repo.faultline(&["plan", "--worktree", "--config-from", "worktree"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown field `globals`"), "{err}");
    assert!(err.contains("globals: [\"Cargo.lock\"]"), "snippet missing: {err}");
    assert!(err.contains("did you mean `global`?"), "{err}");
}

#[test]
fn schema_describes_the_config_and_rejects_unknown_keys() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline")).arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "faultline.yaml");
    assert_eq!(schema["additionalProperties"], false);
    for key in ["version", "services", "global", "policy", "scenarios"] {
        assert!(schema["properties"].get(key).is_some(), "{key} missing");
    }
    let service = &schema["$defs"]["Service"];
    assert_eq!(service["additionalProperties"], false);
    for key in ["paths", "build", "image", "ports", "ready", "liveness", "readiness", "env", "depends_on"] {
        assert!(service["properties"].get(key).is_some(), "service.{key} missing");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the loader.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = config::parse_bytes("faultline.yaml", bytes, origin());
    }

    /// Nor do near-misses of a valid file: bytes cut out, spliced in, or flipped.
    #[test]
    fn mutated_config_never_panics(cut in 0..SHOP_CONFIG.len(), len in 0usize..40, junk in "[ -~\n\t:{}\\[\\]\"'&*!|>#-]{0,12}") {
        let mut s = SHOP_CONFIG.as_bytes().to_vec();
        let end = (cut + len).min(s.len());
        s.splice(cut..end, junk.bytes());
        let _ = config::parse_bytes("faultline.yaml", s, origin());
    }
}

#[test]
fn malformed_yaml_is_located() {
    let text = SHOP_CONFIG.replace("ports: [6379]", "ports: [6379");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    let (file, rest) = p[0].0.split_once(':').unwrap();
    assert_eq!(file, "faultline.yaml");
    let line: usize = rest.split(':').next().unwrap().parse().unwrap();
    // The parser notices the unclosed sequence on the next lines, not past the file's end.
    assert!(line >= line_of(&text, "ports: [6379") && line < text.lines().count(), "{p:?}");
}

#[test]
fn empty_and_non_mapping_files_are_errors_not_panics() {
    for text in ["", "just a string", "- a\n- b\n", "version: 1\nservices: []\n"] {
        assert!(config::parse(SourceFile::new("faultline.yaml", text.to_owned()), origin()).is_err(), "{text:?}");
    }
}

#[test]
fn inputs_globs_are_checked_and_located() {
    let text = SHOP_CONFIG.replacen(
        "    paths: [\"services/orders/**\"]\n",
        "    paths: [\"services/orders/**\"]\n    inputs: [\"docs/*.sql\", \"/shared/**\", \"a[\"]\n",
        1,
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    let line = line_of(&text, "inputs:");
    assert!(p[0].0.starts_with(&format!("faultline.yaml:{line}:")), "{p:?}");
    assert!(p[0].0.contains("services.orders.inputs[1]") || p[0].0.contains("`/shared/**` is absolute"), "{p:?}");
    assert_eq!(p[0].1.as_deref(), Some("write `shared/**`"));
    assert!(p[1].0.contains("glob does not compile"), "{p:?}");

    let text = SHOP_CONFIG.replacen("    paths: [\"services/orders/**\"]\n", "    input: [\"docs/*.sql\"]\n", 1);
    let p = problems(&text);
    assert!(p[0].0.contains("unknown field `input`"), "{p:?}");
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `inputs`?"), "{p:?}");
}

#[test]
fn isolation_mistakes_are_located() {
    let text = format!(
        "{SHOP_CONFIG}isolation:\n  writable: [services/bin, ../outside]\n  memory: lots\n  on_runner: \"legacy\"\n  netwrok: true\n"
    );
    let p = problems(&text);
    assert!(p[0].0.contains("isolation: unknown field `netwrok`"), "{p:?}");
    assert!(p[0].1.as_deref().unwrap().starts_with("did you mean `network`?"), "{p:?}");
    let text = text.replace("  netwrok: true\n", "");
    let p = problems(&text);
    let find = |needle: &str| p.iter().find(|(m, _)| m.contains(needle)).unwrap_or_else(|| panic!("{needle}: {p:?}"));
    let line = line_of(&text, "../outside");
    assert!(find("`../outside` is not a path inside the checkout").0.starts_with(&format!("faultline.yaml:{line}:")));
    let line = line_of(&text, "memory: lots");
    assert!(find("`lots` is not a memory size").0.starts_with(&format!("faultline.yaml:{line}:11:")), "{p:?}");
    assert!(find("`on_runner` beside settings").1.as_deref().unwrap().contains("either isolate"), "{p:?}");
    let ok = format!("{SHOP_CONFIG}isolation:\n  writable: [services/bin]\n  memory: 2g\n");
    assert_eq!(problems(&ok), vec![]);
}

/// Issue 26's keys: a rendered file's target, its one source and its placeholders; a
/// `dockerfile` and `build_args` without `build`; an edge's `host` and `client_port` (which
/// needs a host, and is one address of the run's network: two edges cannot share it).
#[test]
fn rendered_files_builds_and_client_names_are_checked_and_located() {
    let text = r#"version: 1
services:
  pay:
    image: pay:1
    ports: [80]
    dockerfile: docker/x.Dockerfile
    build_args: { "BAD-NAME": "1" }
  orders:
    build: orders
    dockerfile: ../outside/Dockerfile
    ports: [80]
    files:
      app/peers.json: { content: "x" }
      /app/both: { content: "x", template: t }
      /app/peers.env: { content: "PAY={pay.hots}\nX={paymnt.host}" }
    depends_on:
      pay: { host: "bad name", client_port: 8000 }
  web:
    image: web:1
    ports: [80]
    depends_on:
      pay: { env: PAY, client_port: 8000 }
"#;
    let p = problems(text);
    let at = |needle: &str, msg: &str| {
        let line = line_of(text, needle);
        assert!(
            p.iter().any(|(m, _)| m.contains(&format!("faultline.yaml:{line}:")) && m.contains(msg)),
            "no `{msg}` at line {line}: {p:#?}"
        );
    };
    at("dockerfile: docker/x", "`dockerfile` without `build`");
    at("build_args: {", "`build_args` without `build`");
    at("BAD-NAME", "is not an environment variable name");
    at("../outside/Dockerfile", "is not a file of the repository");
    at("app/peers.json:", "is not an absolute file path in the container");
    at("/app/both:", "exactly one of `template` and `content` (2 given)");
    at("/app/peers.env", "unknown placeholder `{pay.hots}`");
    at("/app/peers.env", "`{paymnt.host}` is not a dependency of `orders`");
    at("host: \"bad name\"", "`bad name` cannot be the name `orders` uses for `pay`");
    at("pay: { env: PAY, client_port", "`client_port` needs `host`");
    at("pay: { env: PAY, client_port", "`client_port` 8000 is taken by the edge `orders -> pay`");
    let help = p.iter().find(|(m, _)| m.contains("paymnt")).and_then(|(_, h)| h.clone()).unwrap_or_default();
    assert!(help.contains("did you mean `{pay.host}`?"), "{help}");
}

/// Issue 24's `errors:` of an edge: the dependency's own error statuses, each one 400-599,
/// a wrong one located at its value with the range in the help; a right list is valid.
#[test]
fn an_edges_error_statuses_are_checked_value_by_value() {
    let text = r#"version: 1
services:
  pay:
    image: pay:1
    ports: [80]
  orders:
    image: orders:1
    ports: [80]
    depends_on:
      pay: { env: PAY, url: "http://{host}:{port}", errors: [404, 200, 409, 99] }
"#;
    let p = problems(text);
    assert_eq!(p.len(), 2, "{p:#?}");
    let line = line_of(text, "errors:");
    let column = |needle: &str| text.lines().nth(line - 1).unwrap().find(needle).unwrap() + 1;
    assert!(
        p[0].0.starts_with(&format!("faultline.yaml:{line}:{}: ", column("200")))
            && p[0].0.contains("200 is not an error status of `pay`"),
        "{p:#?}"
    );
    assert!(p[1].0.starts_with(&format!("faultline.yaml:{line}:{}: ", column("99"))), "{p:#?}");
    assert!(p[0].1.as_deref().unwrap_or_default().contains("400-599"), "{p:#?}");
    assert_eq!(problems(&text.replace("200, ", "").replace(", 99", "")), vec![]);
}

/// `agrees:` on a workload step: every mistake at its key, with the nearest valid name; on a
/// read only; naming a service that exists.
#[test]
fn an_agreement_of_a_workload_is_checked_key_by_key() {
    let base = r#"version: 1
services:
  db:
    image: postgres:16
    ports: [5432]
  api:
    image: registry.example/api:1
    ports: [8080]
    depends_on:
      db: { env: DB_URL }
explore:
  workloads:
    api:
      - request: GET api /stock/A1
        agrees: { path: $.qty, sql: { service: db, query: "select qty from stock" }, within: 5s }
"#;
    assert_eq!(problems(base), vec![]);
    let typo = base.replace("agrees: { path:", "agrees: { pth:");
    let p = problems(&typo);
    let line = line_of(&typo, "pth");
    assert!(
        p.iter().any(|(m, h)| m.starts_with(&format!("faultline.yaml:{line}:"))
            && m.contains("unknown key `pth`")
            && h.as_deref().is_some_and(|h| h.starts_with("did you mean `path`?"))),
        "{p:?}"
    );
    assert!(p.iter().any(|(m, _)| m.contains("`agrees` needs `path`")), "{p:?}");
    let p = problems(&base.replace("service: db, query", "servce: db, query"));
    assert!(
        p.iter()
            .any(|(m, h)| m.contains("unknown key `servce`") && h.as_deref().is_some_and(|h| h.contains("`service`"))),
        "{p:?}"
    );
    let p = problems(&base.replace("service: db, query", "service: dbb, query"));
    assert!(
        p.iter().any(|(m, h)| m.contains("`dbb` is not a service") && h.as_deref() == Some("did you mean `db`?")),
        "{p:?}"
    );
    let p = problems(&base.replace("GET api /stock/A1", "POST api /stock/A1"));
    assert!(p.iter().any(|(m, _)| m.contains("`agrees` goes with a `GET` request")), "{p:?}");
    let p = problems(&base.replace("$.qty", "qty").replace("within: 5s", "within: soon"));
    assert!(p.iter().any(|(m, _)| m.contains("`qty` is not a JSON path")), "{p:?}");
    assert!(p.iter().any(|(m, _)| m.contains("`soon` is not a duration")), "{p:?}");
    let p =
        problems(&base.replace(r#"sql: { service: db, query: "select qty from stock" }"#, "redis: { service: db }"));
    assert!(p.iter().any(|(m, _)| m.contains("`redis` needs `command`")), "{p:?}");
}

/// `under_fault:` of a workload step: a mapping of `expect`'s keys, each mistake at its key
/// with the nearest valid one; the newsletter, which uses it, is valid.
#[test]
fn under_fault_is_checked_key_by_key() {
    let newsletter =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/newsletter/faultline.yaml")).unwrap();
    assert_eq!(problems(&newsletter), vec![]);
    let typo = newsletter.replacen("under_fault: { status: [200, 503] }", "under_fault: { stauts: [200, 503] }", 1);
    let p = problems(&typo);
    let (line, column) =
        (line_of(&typo, "stauts"), typo.lines().find(|l| l.contains("stauts")).unwrap().find("stauts").unwrap() + 1);
    assert!(
        p.iter().any(|(m, h)| m.starts_with(&format!("faultline.yaml:{line}:{column}: "))
            && m.contains("`stauts` is not a key of `expect`")
            && h.as_deref().is_some_and(|h| h.starts_with("did you mean `status`?"))),
        "{p:?}"
    );
    let bad = newsletter.replacen("under_fault: { status: [200, 503] }", "under_fault: { status: [200, 5003] }", 1);
    let p = problems(&bad);
    let line = line_of(&bad, "5003");
    assert!(
        p.iter()
            .any(|(m, _)| m.starts_with(&format!("faultline.yaml:{line}:")) && m.contains("a list of HTTP statuses")),
        "{p:?}"
    );
    let p = problems(&newsletter.replacen("under_fault: { status: [200, 503] }", "under_fault: [200, 503]", 1));
    assert!(p.iter().any(|(m, _)| m.contains("`under_fault` is a mapping of `expect`'s keys")), "{p:?}");
}

/// Through the binary: a misspelled key of `under_fault` in a repository's faultline.yaml
/// stops `plan` with the file, line and column, and the nearest key.
#[test]
fn a_misspelled_under_fault_key_is_located_by_the_cli() {
    let repo = TestRepo::new();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/newsletter/faultline.yaml"))
        .unwrap()
        .replacen(
            "under_fault: { status: [201, 202, 401, 503] }",
            "under_fault: { statuses: [201, 202, 401, 503] }",
            1,
        );
    repo.write("faultline.yaml", &text);
    repo.commit("newsletter");
    let out = repo.faultline(&["plan", "--worktree", "--config-from", "worktree"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = line_of(&text, "statuses:");
    let column = text.lines().nth(line - 1).and_then(|l| l.find("statuses:")).unwrap() + 1;
    assert!(err.contains(&format!("faultline.yaml:{line}:{column}: ")), "{err}");
    assert!(err.contains("`statuses` is not a key of `expect`") && err.contains("did you mean `status`?"), "{err}");
}
