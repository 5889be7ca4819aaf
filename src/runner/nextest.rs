//! The `nextest` step: the repository's own tests, run with cargo-nextest against the stack
//! while the faults are on.
//!
//! Before any stack starts, [`preflight`] checks that cargo-nextest is there and the
//! repository is a cargo workspace, and [`build`] compiles the tests and lists the ones the
//! filterset selects (with `nextest-metadata`): a filter that selects nothing would pass
//! vacuously, so it is an error. During the scenario, [`run`] runs them with the stack's
//! addresses in the environment and reads the results from a JUnit report written through a
//! profile of faultline's own (`--tool-config-file`), so the repository's nextest settings
//! still apply. nextest's exit code is read by its `NextestExitCode` meaning: test failures
//! fail the step; anything else (a build failure, a bad filterset, a setup error) means the
//! scenario could not be verified.

use std::path::{Path, PathBuf};

use nextest_metadata::{FilterMatch, NextestExitCode, TestListSummary};

use crate::stack::sandbox::{ChangeCode, Net};

/// What keeps the tests of a `nextest` step from running or from being judged.
#[derive(Debug, thiserror::Error)]
pub enum NextestError {
    #[error(
        "a `nextest` step needs cargo-nextest, which is not installed: \
         `cargo install --locked cargo-nextest` (https://nexte.st)"
    )]
    NotInstalled,
    #[error("a `nextest` step runs the repository's cargo tests, and {} has no Cargo.toml", .0.display())]
    NoWorkspace(PathBuf),
    #[error("cannot run cargo nextest: {0}")]
    Spawn(std::io::Error),
    #[error(transparent)]
    Isolation(Box<crate::stack::StackError>),
    /// `cargo nextest list` failed: its exit code and the end of what it said.
    #[error("cargo nextest list -E '{filter}' failed ({}): {stderr}", meaning(*.code))]
    List { filter: String, code: Option<i32>, stderr: String },
    #[error("cannot read the test list of cargo nextest: {0}")]
    TestList(serde_json::Error),
    #[error("the filterset `{0}` selects no test of the repository")]
    SelectsNothing(String),
    #[error("cannot write {}: {error}", .path.display())]
    ToolConfig { path: PathBuf, error: std::io::Error },
    /// `cargo nextest run` ended for another reason than failing tests, or ran none.
    #[error("cargo nextest run -E '{filter}' ended with {}: {stderr}", meaning(*.code))]
    Run { filter: String, code: Option<i32>, stderr: String },
}

/// The environment a step's tests get: `FAULTLINE_<SERVICE>_ADDR` and `_URL` per service.
pub(crate) fn stack_env(services: &[(String, std::net::SocketAddr)]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (name, addr) in services {
        let key: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        env.push((format!("FAULTLINE_{key}_ADDR"), addr.to_string()));
        env.push((format!("FAULTLINE_{key}_URL"), format!("http://{addr}")));
    }
    env
}

/// `value` with `{SERVICE.host}`, `{SERVICE.port}`, `{SERVICE.addr}` and `{SERVICE.url}`
/// filled from the stack's addresses (each service through its ingress proxy), so a test
/// suite that reads its own variables (`APP_DATABASE__PORT`) finds the stack.
pub(crate) fn fill_addrs(value: &str, services: &[(String, std::net::SocketAddr)]) -> String {
    let mut out = value.to_owned();
    if !out.contains('{') {
        return out;
    }
    for (name, addr) in services {
        for (part, v) in [
            ("host", addr.ip().to_string()),
            ("port", addr.port().to_string()),
            ("addr", addr.to_string()),
            ("url", format!("http://{addr}")),
        ] {
            out = out.replace(&format!("{{{name}.{part}}}"), &v);
        }
    }
    out
}

/// cargo-nextest is installed and `root` is a cargo workspace. Asked from a directory of
/// faultline's own, so no `.cargo/config.toml` of the change (an alias) answers instead.
pub(crate) async fn preflight(root: &Path) -> Result<(), NextestError> {
    let neutral = tempfile::tempdir().map_err(NextestError::Spawn)?;
    let mut c = crate::stack::host::command(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()), &[], &[]);
    c.args(["nextest", "--version"]).current_dir(neutral.path());
    match crate::stack::host::output(c).await {
        Ok(out) if out.status.success() => {}
        Ok(_) | Err(_) => return Err(NextestError::NotInstalled),
    }
    if !root.join("Cargo.toml").is_file() {
        return Err(NextestError::NoWorkspace(root.to_path_buf()));
    }
    Ok(())
}

/// `cargo` and `args`, run as code of the change (the tests are the change's).
async fn cargo(
    code: &ChangeCode<'_>,
    args: Vec<String>,
    env: &[(String, String)],
    writable: Vec<PathBuf>,
    net: Net,
) -> Result<crate::stack::sandbox::Ran, NextestError> {
    let mut argv = vec!["cargo".to_owned()];
    argv.extend(args);
    code.run("a `nextest` step", argv, None, env, writable, net).await.map_err(|e| NextestError::Isolation(Box::new(e)))
}

/// Builds the tests and counts those `filter` selects (ignored tests are not run).
pub(crate) async fn build(code: &ChangeCode<'_>, filter: &str) -> Result<usize, NextestError> {
    let args = ["nextest", "list", "--workspace", "--message-format", "json", "-E", filter];
    let out = cargo(code, args.map(str::to_owned).to_vec(), &[], Vec::new(), Net::Off).await?;
    if !out.success() {
        return Err(NextestError::List {
            filter: filter.to_owned(),
            code: out.code.and_then(|c| i32::try_from(c).ok()),
            stderr: crate::stack::image::tail(String::from_utf8_lossy(&out.stderr).trim(), 8),
        });
    }
    let list = TestListSummary::parse_json(String::from_utf8_lossy(&out.stdout)).map_err(NextestError::TestList)?;
    let n = list
        .rust_suites
        .values()
        .flat_map(|s| s.test_cases.values())
        .filter(|t| t.filter_match == FilterMatch::Matches && !t.ignored)
        .count();
    if n == 0 {
        return Err(NextestError::SelectsNothing(filter.to_owned()));
    }
    Ok(n)
}

/// One test's result, from the JUnit report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestCase {
    /// `binary::test`.
    pub name: String,
    /// The first line of the failure message; `None` when it passed.
    pub failure: Option<String>,
    /// What a failed test said: the whole failure message and the output it captured
    /// (the assertion's left and right are on later lines), its last lines.
    pub output: String,
}

/// Lines and characters of a failed test's output kept for the report.
const OUTPUT_LINES: usize = 20;
const OUTPUT_CHARS: usize = 2000;

/// Runs the tests `filter` selects; `junit` is where the report goes (unique per step). The
/// cases, passed or failed, or why nextest did not judge them.
pub(crate) async fn run(
    code: &ChangeCode<'_>,
    filter: &str,
    env: &[(String, String)],
    junit: &Path,
) -> Result<Vec<TestCase>, NextestError> {
    let dir = junit.parent().unwrap_or(Path::new("."));
    let profile = "faultline-step";
    let config = dir.join("nextest-tool.toml");
    let quote = |p: &Path| p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    // The store (where the JUnit report is written) is faultline's scratch directory: the
    // checkout may be read-only.
    let toml = format!(
        "[store]\ndir = \"{}\"\n[profile.{profile}]\nfail-fast = false\n[profile.{profile}.junit]\npath = \"{}\"\nstore-success-output = false\n",
        quote(&dir.join("store")),
        quote(junit),
    );
    if let Err(error) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&config, toml)) {
        return Err(NextestError::ToolConfig { path: config, error });
    }
    let args = vec![
        "nextest".to_owned(),
        "run".into(),
        "--workspace".into(),
        "--no-fail-fast".into(),
        "--profile".into(),
        profile.into(),
        "-E".into(),
        filter.into(),
        "--tool-config-file".into(),
        format!("faultline:{}", config.display()),
    ];
    // The tests reach the stack through its addresses on the runner.
    let out = cargo(code, args, env, vec![dir.to_path_buf()], Net::Runner).await?;
    let code = out.code.and_then(|c| i32::try_from(c).ok());
    let cases = std::fs::read_to_string(junit).map(|x| parse_junit(&x)).unwrap_or_default();
    match code {
        Some(NextestExitCode::OK) | Some(NextestExitCode::TEST_RUN_FAILED) if !cases.is_empty() => Ok(cases),
        _ => Err(NextestError::Run {
            filter: filter.to_owned(),
            code,
            stderr: crate::stack::image::tail(String::from_utf8_lossy(&out.stderr).trim(), 8),
        }),
    }
}

/// An exit code of cargo-nextest, in words.
fn meaning(code: Option<i32>) -> String {
    let what = match code {
        None => return "a signal".into(),
        Some(NextestExitCode::OK) => "success",
        Some(NextestExitCode::TEST_RUN_FAILED) => "failing tests",
        Some(NextestExitCode::NO_TESTS_RUN) => "no tests run",
        Some(NextestExitCode::BUILD_FAILED) => "a build failure",
        Some(NextestExitCode::CARGO_METADATA_FAILED) => "cargo metadata failing",
        Some(NextestExitCode::TEST_LIST_CREATION_FAILED) => "the test list failing",
        Some(NextestExitCode::SETUP_ERROR) => "a setup error",
        Some(NextestExitCode::SETUP_SCRIPT_FAILED) => "a setup script failing",
        Some(NextestExitCode::INVALID_FILTERSET) => "an invalid filterset",
        Some(NextestExitCode::REQUIRED_VERSION_NOT_MET) => "a required nextest version not met",
        Some(NextestExitCode::EXPERIMENTAL_FEATURE_NOT_ENABLED) => "an experimental feature not enabled",
        Some(NextestExitCode::INCOMPLETE_RUN) => "an incomplete run",
        Some(_) => "an unexpected exit code",
    };
    format!("{what} (exit {})", code.unwrap_or_default())
}

/// The test cases of a JUnit report (Jenkins format, as nextest writes it).
pub(crate) fn parse_junit(xml: &str) -> Vec<TestCase> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<TestCase> = Vec::new();
    let mut in_case = false;
    // Inside an element whose text is kept (a failure, captured output).
    let mut kept = false;
    let mut new_part = false;
    let attr = |e: &quick_xml::events::BytesStart<'_>, key: &str| -> String {
        e.attributes()
            .flatten()
            .find(|a| a.key.0 == key)
            .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
            .unwrap_or_default()
    };
    let is = |ev: &Event<'_>, name: &str| match ev {
        Event::Start(e) | Event::Empty(e) => e.name().0 == name,
        _ => false,
    };
    loop {
        match reader.read_event() {
            Ok(ev @ (Event::Start(_) | Event::Empty(_))) if is(&ev, "testcase") => {
                let (Event::Start(e) | Event::Empty(e)) = &ev else { unreachable!() };
                let class = attr(e, "classname");
                let name = attr(e, "name");
                cases.push(TestCase {
                    name: if class.is_empty() { name } else { format!("{class}::{name}") },
                    failure: None,
                    output: String::new(),
                });
                // `<testcase/>` has no children.
                in_case = matches!(ev, Event::Start(_));
            }
            Ok(ev @ (Event::Start(_) | Event::Empty(_))) if in_case => {
                let (Event::Start(e) | Event::Empty(e)) = &ev else { unreachable!() };
                let failed = matches!(e.name().0, "failure" | "error");
                if failed && let Some(c) = cases.last_mut() {
                    let msg = attr(e, "message");
                    c.failure = Some(msg.lines().next().unwrap_or("failed").to_owned());
                    c.output.push_str(&msg);
                }
                // The failure's text and the test's captured output.
                kept = matches!(ev, Event::Start(_))
                    && (failed || matches!(e.name().0, "system-out" | "system-err" | "rerunFailure"));
                new_part = true;
            }
            Ok(Event::Text(t)) if kept => {
                push_text(&mut cases, &t.xml_content(quick_xml::XmlVersion::Implicit1_0), &mut new_part)
            }
            Ok(Event::CData(t)) if kept => {
                push_text(&mut cases, &t.xml_content(quick_xml::XmlVersion::Implicit1_0), &mut new_part)
            }
            // Entities come apart from the text around them.
            Ok(Event::GeneralRef(r)) if kept => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(ch)) => Some(ch.to_string()),
                    _ => {
                        quick_xml::escape::resolve_predefined_entity(&r.xml_content(quick_xml::XmlVersion::Implicit1_0))
                            .map(str::to_owned)
                    }
                };
                if let Some(text) = text {
                    push_text(&mut cases, &text, &mut new_part);
                }
            }
            Ok(Event::End(e))
                if matches!(e.name().0, "failure" | "error" | "system-out" | "system-err" | "rerunFailure") =>
            {
                kept = false
            }
            Ok(Event::End(e)) if e.name().0 == "testcase" => in_case = false,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    for c in &mut cases {
        c.output = if c.failure.is_some() { trimmed(&c.output) } else { String::new() };
    }
    cases
}

/// Text of a kept element: a new element's text starts on a new line.
fn push_text(cases: &mut [TestCase], text: &str, new_part: &mut bool) {
    if let Some(c) = cases.last_mut() {
        if *new_part && !c.output.is_empty() && !c.output.ends_with('\n') {
            c.output.push('\n');
        }
        c.output.push_str(text);
    }
    *new_part = false;
}

/// The last lines of a failed test's output, within bounds.
fn trimmed(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut kept = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n");
    if kept.chars().count() > OUTPUT_CHARS {
        kept = kept.chars().skip(kept.chars().count() - OUTPUT_CHARS).collect();
    }
    if lines.len() > OUTPUT_LINES { format!("…\n{kept}") } else { kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cases_and_failures() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="orders::live">
            <testcase name="a" classname="orders::live"/>
            <testcase name="b" classname="orders::live"><failure message="thread &apos;b&apos; panicked at x.rs:1:2&#10;more" type="t">text</failure></testcase>
            <testcase name="c" classname="orders::live"><system-out>x</system-out></testcase>
            </testsuite></testsuites>"#;
        let cases = parse_junit(xml);
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0], TestCase { name: "orders::live::a".into(), failure: None, output: String::new() });
        assert_eq!(cases[1].failure.as_deref(), Some("thread 'b' panicked at x.rs:1:2"));
        assert_eq!(cases[1].output, "thread 'b' panicked at x.rs:1:2\nmore\ntext");
        assert_eq!(cases[2].failure, None);
        assert_eq!(cases[2].output, "", "a passing test's output is not kept");
    }

    #[test]
    fn env_names() {
        let env = stack_env(&[("order-db".into(), "127.0.0.1:5".parse().unwrap())]);
        assert_eq!(env[0], ("FAULTLINE_ORDER_DB_ADDR".into(), "127.0.0.1:5".into()));
        assert_eq!(env[1].1, "http://127.0.0.1:5");
    }
}
