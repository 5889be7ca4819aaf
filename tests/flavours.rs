//! Issue 24's flavours through the binary on the relay fixture: a transient failure answered
//! with the body a real intermediary sends (nginx's HTML page, a gateway's plain text, a
//! large page), and the dependency's own error statuses, declared on the edge (`errors:`) or
//! answered by the dependency in the reference.
//! A bug the bodies catch, and the correct system passing. These tests start containers.

mod common;

use common::{TestRepo, explore_gate as gate, only, ran};

/// api calls db (a relay) and answers 502 when db fails; db may answer 404 of its own
/// (`errors: [404]`). The gate explores api whenever `api/**` or the images change.
const CONFIG: &str = concat!(
    "version: 1\n",
    relay_services!("1"),
    r#"explore:
  workloads:
    api:
      - request: GET api /call
        expect: { status: [200, 502], within: 2s }
policy:
  tiers: { high: ["api/**", "images/**"] }
  gate:
    high: { scenarios: none, explore: true, partial_exploration: allow }
"#
);

/// A relay repository with `config` on main and a change committed that rewrites the
/// relay's code with `relay` (or only touches api).
fn repo(config: &str, relay: Option<&dyn Fn(&str) -> String>) -> TestRepo {
    common::relay_change(config, &[], relay)
}

/// The experiment of `class` on `api -> db` one request at a time, from the experiments
/// that ran.
fn experiment(v: &serde_json::Value, class: &str) -> serde_json::Value {
    ran(v)
        .into_iter()
        .find(|x| x["class"] == class && x["on"] == "api -> db" && x["mode"] == "sequential")
        .unwrap_or_else(|| panic!("no {class} ran: {v}"))
}

/// The check of `x` whose name starts with `name`.
fn check(x: &serde_json::Value, name: &str) -> serde_json::Value {
    x["outcome"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"].as_str().is_some_and(|n| n.starts_with(name))).cloned())
        .unwrap_or_else(|| panic!("no check {name}: {x}"))
}

/// A change that passes the dependency's error detail on: it parses every error body of db
/// as JSON, as if only db's own API could answer (`response.json()` on any error, the
/// mistake behind "Unexpected token < in JSON"). An empty body or a JSON problem goes
/// through, so the 503 with a JSON problem and the empty 500 pass; the 502 that nginx
/// answers with its HTML page raises out of the handler: a traceback in api's logs and a
/// connection closed without an answer, where the base answers 502.
#[test]
fn the_gate_blocks_a_change_that_parses_a_proxys_html_error_page_as_json() {
    let parses: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace(
            "            except Exception as e:  # any failure of a dependency is reported, not raised\n",
            "            except urllib.error.HTTPError as e:  # db's own error: its detail passed on\n                body = e.read()\n                calls[var] = {\"error\": str(e), \"detail\": json.loads(body) if body else None}\n                status = 502\n            except Exception as e:  # any failure of a dependency is reported, not raised\n",
        )
    };
    // The flavour that catches it and the one it must pass (explore.classes): the catalogue's
    // other classes would only add minutes.
    let r = repo(&only(CONFIG, "errors-first, errors-first-502"), Some(parses));
    let (code, text, v) = gate(&r, "60s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let x = experiment(&v, "errors-first-502");
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    let logs = check(&x, "logs of api");
    assert_eq!(logs["passed"], false, "{x}");
    assert!(logs["observed"].as_str().unwrap_or_default().contains("Traceback"), "{logs}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "the base answers 502: {x}");
    assert!(x["scenario"].as_str().unwrap_or_default().contains("<center>nginx</center>"), "{x}");
    // The same failure with a JSON body passes: only the body differs.
    assert_eq!(experiment(&v, "errors-first")["outcome"]["status"], "passed", "{v}");
}

/// The correct relay answers 502 whatever db's error body says, and whatever db answers of
/// its own (a 404 declared on the edge): each flavour passes with the family's check, and
/// `dependency-404` runs once, one request at a time, no member of the family.
#[test]
fn the_gate_passes_a_system_that_never_reads_an_error_body_it_does_not_own() {
    let config = CONFIG.replace(r#"url: "http://{host}:{port}" }"#, r#"url: "http://{host}:{port}", errors: [404] }"#);
    assert!(config.contains("errors: [404]"), "{config}");
    let classes =
        "errors-first, errors-first-502, errors-first-504, errors-first-500, errors-first-large, dependency-errors";
    let r = repo(&only(&config, classes), None);
    let (code, text, v) = gate(&r, "45s", &[]);
    assert_eq!(code, Some(0), "{text}");
    for class in ["errors-first-502", "errors-first-504", "errors-first-500", "errors-first-large"] {
        let x = experiment(&v, class);
        assert_eq!(x["outcome"]["status"], "passed", "{x}");
        assert_eq!(check(&x, "the same outcome for the client under ")["passed"], true, "{x}");
    }
    let own: Vec<serde_json::Value> = ran(&v).into_iter().filter(|x| x["class"] == "dependency-404").collect();
    assert_eq!(own.len(), 1, "one request at a time only: {v}");
    assert_eq!(own[0]["outcome"]["status"], "passed", "{}", own[0]);
    let checks = own[0]["outcome"]["checks"].as_array().unwrap();
    assert!(
        !checks.iter().any(|c| c["check"].as_str().unwrap_or_default().starts_with("the same outcome")),
        "{}",
        own[0]
    );
    // db's 404 reached api: answered 502, as the workload allows.
    let steps = own[0]["outcome"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["passed"] == true), "{}", own[0]);
}

/// [`CONFIG`] with db answering 404 of its own to every 2nd call (`MISSING_EVERY`: something
/// it does not have) and the workload asking api twice: the reference sees db's 404 on the
/// second request, and only there. No `errors:` declared on the edge: the reference alone
/// makes `dependency-404`, which answers it to the first 2 requests. Only that class runs.
fn seen_in_the_reference() -> String {
    let one = "      - request: GET api /call\n        expect: { status: [200, 502], within: 2s }\n";
    let config = CONFIG
        .replace("env: { SERVICE_NAME: db }", r#"env: { SERVICE_NAME: db, MISSING_EVERY: "2" }"#)
        .replace(one, &one.repeat(2));
    assert!(config.contains("MISSING_EVERY") && config.matches("GET api /call").count() == 2, "{config}");
    assert!(!config.contains("errors:"), "{config}");
    only(&config, "dependency-errors")
}

/// A change that takes db's first answer for api's settings, which cannot be missing: a 404 on
/// api's first call of db answers 500 ("db has no settings"); later 404s are passed on as 502,
/// as the base does. The reference passes (db's own 404 comes on the second call); the 404
/// the dependency showed there, answered to the first request instead, is a 500 where the base
/// answers 502: blocked, though nothing declared the status.
#[test]
fn the_gate_blocks_a_change_that_mishandles_the_dependencys_own_status_at_another_request() {
    let settings: &dyn Fn(&str) -> String = &|code: &str| {
        code.replace("LIVE_CHECKS_DEPS = ", "CALLS = itertools.count()\n\n\nLIVE_CHECKS_DEPS = ")
            .replace(
                "                calls[var] = call(url)\n",
                "                first = next(CALLS) == 0\n                calls[var] = call(url)\n",
            )
            .replace(
                "            except Exception as e:  # any failure of a dependency is reported, not raised\n",
                concat!(
                    "            except urllib.error.HTTPError as e:\n",
                    "                if e.code == 404 and first:  # db's first answer is api's settings\n",
                    "                    return self.answer(500, {\"service\": NAME, \"error\": \"db has no settings\"})\n",
                    "                calls[var] = {\"error\": str(e)}\n",
                    "                status = 502\n",
                    "            except Exception as e:  # any failure of a dependency is reported, not raised\n",
                ),
            )
    };
    let r = repo(&seen_in_the_reference(), Some(settings));
    let (code, text, v) = gate(&r, "60s", &[]);
    assert_eq!(code, Some(1), "{text}");
    let x = experiment(&v, "dependency-404");
    assert_eq!(x["outcome"]["status"], "failed", "{x}");
    assert_eq!(x["compared"]["verdict"], "worse", "{x}");
    assert_eq!(x["compared"]["base"]["status"], "passed", "the base answers 502: {x}");
    let first = &x["outcome"]["steps"][0];
    assert_eq!(first["passed"], false, "{x}");
    assert!(first["observed"].as_str().unwrap_or_default().contains("500"), "{first}");
    assert!(v["reasons"].to_string().contains("dependency-404 on api -> db"), "{v}");
}

/// The correct relay answers 502 to db's own 404 wherever it comes: `dependency-404`, made from
/// the reference alone, passes.
#[test]
fn the_gate_passes_a_relay_that_answers_the_dependencys_own_status_wherever_it_comes() {
    let r = repo(&seen_in_the_reference(), None);
    let (code, text, v) = gate(&r, "60s", &[]);
    assert_eq!(code, Some(0), "{text}");
    let own: Vec<serde_json::Value> = ran(&v).into_iter().filter(|x| x["class"] == "dependency-404").collect();
    assert_eq!(own.len(), 1, "one request at a time only: {v}");
    assert_eq!(own[0]["outcome"]["status"], "passed", "{}", own[0]);
    // Both requests answered 404 by the fault, both 502 by api.
    assert_eq!(own[0]["outcome"]["steps"][0]["answered"]["failed"], 1, "{}", own[0]);
    assert_eq!(own[0]["outcome"]["steps"][1]["answered"]["failed"], 1, "{}", own[0]);
}
