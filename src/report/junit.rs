//! `junit.xml`: the gate's results in the Jenkins JUnit format CI systems read — one
//! `<testsuite>` per scenario, one `<testcase>` per step and per check, failures carrying
//! expected vs observed and the scenario's `why:`. What is not a scenario's (the sign-off, a
//! gate that could not verify before running anything) is a suite named `faultline`.

use std::fmt::Write as _;

use crate::outcome::GateReport;
use crate::outcome::{Decision, ScenarioOutcome, Status};

/// Text fit for XML: escaped, without the control characters XML 1.0 forbids.
fn esc(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || (*c >= ' ' && *c != '\u{fffe}' && *c != '\u{ffff}'))
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

struct Case {
    name: String,
    seconds: f64,
    /// (message, body) of a failure.
    failure: Option<(String, String)>,
    /// (message, body) of an error: not judged.
    error: Option<(String, String)>,
}

fn suite(o: &mut String, name: &str, props: &[(&str, String)], cases: &[Case], seconds: f64) {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let _ = writeln!(
        o,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="0" time="{seconds:.3}">"#,
        esc(name),
        cases.len()
    );
    if !props.is_empty() {
        o.push_str("    <properties>\n");
        for (k, v) in props {
            let _ = writeln!(o, r#"      <property name="{}" value="{}"/>"#, esc(k), esc(v));
        }
        o.push_str("    </properties>\n");
    }
    for c in cases {
        let attrs = format!(r#"name="{}" classname="faultline.{}" time="{:.3}""#, esc(&c.name), esc(name), c.seconds);
        match (&c.failure, &c.error) {
            (None, None) => {
                let _ = writeln!(o, "    <testcase {attrs}/>");
            }
            (f, e) => {
                let _ = writeln!(o, "    <testcase {attrs}>");
                if let Some((msg, body)) = f {
                    let _ =
                        writeln!(o, r#"      <failure message="{}" type="check">{}</failure>"#, esc(msg), esc(body));
                }
                if let Some((msg, body)) = e {
                    let _ =
                        writeln!(o, r#"      <error message="{}" type="unverified">{}</error>"#, esc(msg), esc(body));
                }
                o.push_str("    </testcase>\n");
            }
        }
    }
    o.push_str("  </testsuite>\n");
}

fn scenario_cases(s: &ScenarioOutcome) -> Vec<Case> {
    let body = |expected: &str, observed: &str| {
        format!("expected: {expected}\nobserved: {observed}\nwhy: {}\nreproduce: {}", s.why, s.repro)
    };
    let mut cases = Vec::new();
    if s.status == Status::Error {
        let msg = s.error.clone().unwrap_or_else(|| "could not run".into());
        cases.push(Case {
            name: "scenario ran".into(),
            seconds: s.stack_seconds,
            failure: None,
            error: Some((msg.clone(), format!("{msg}\nwhy: {}\nreproduce: {}", s.why, s.repro))),
        });
    }
    for st in &s.steps {
        cases.push(Case {
            name: format!("step {}: {}", st.index + 1, st.step),
            seconds: 0.0,
            failure: (!st.passed).then(|| {
                (format!("expected {}, observed {}", st.expected, st.observed), body(&st.expected, &st.observed))
            }),
            error: None,
        });
    }
    for c in &s.checks {
        cases.push(Case {
            // The JUnit schema has no file or line on a test case: both are in its name.
            name: format!("check {} ({}:{}): {}", c.index + 1, s.file, c.line, c.check),
            seconds: 0.0,
            failure: (!c.passed)
                .then(|| (format!("expected {}, observed {}", c.expected, c.observed), body(&c.expected, &c.observed))),
            error: None,
        });
    }
    cases
}

/// The whole report as JUnit XML.
pub fn render(report: &GateReport) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut body = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let mut count = |cases: &[Case]| {
        tests += cases.len();
        failures += cases.iter().filter(|c| c.failure.is_some()).count();
        errors += cases.iter().filter(|c| c.error.is_some()).count();
    };
    // The gate itself: sign-off, and anything that stopped it before the scenarios.
    let mut gate_cases = Vec::new();
    // A shard (`--partition`) does not judge the sign-off: `report merge` does.
    if let Some(sign) = &report.signoff
        && sign.required
        && report.partition.is_none()
    {
        gate_cases.push(Case {
            name: "senior sign-off".into(),
            seconds: 0.0,
            failure: (!sign.satisfied).then(|| {
                let msg = format!("a senior must sign off: one of {}", sign.seniors.join(", "));
                let how = "an approving review of the head commit on the code host, or --approved-by handed in by \
                           CI (a trailer in the change's own commits never counts)";
                (msg.clone(), format!("{msg}\n{how}"))
            }),
            error: None,
        });
    }
    if report.decision == Decision::Unverified && report.scenarios.iter().all(|s| s.status != Status::Error) {
        let reason = report.reasons.join("\n");
        gate_cases.push(Case {
            name: "gate could verify the change".into(),
            seconds: report.timings.total_seconds,
            failure: None,
            error: Some((report.reasons.first().cloned().unwrap_or_default(), reason)),
        });
    }
    if !gate_cases.is_empty() || report.scenarios.is_empty() {
        if gate_cases.is_empty() {
            gate_cases.push(Case {
                name: "gate".into(),
                seconds: report.timings.total_seconds,
                failure: None,
                error: None,
            });
        }
        count(&gate_cases);
        let props = [("decision", format!("{:?}", report.decision).to_lowercase()), ("seed", report.seed.to_string())];
        suite(&mut body, "faultline", &props, &gate_cases, report.timings.total_seconds);
    }
    for s in &report.scenarios {
        let cases = scenario_cases(s);
        count(&cases);
        let props = [
            ("file", s.file.clone()),
            ("target", s.target.clone()),
            ("seed", s.seed.to_string()),
            ("why", s.why.clone()),
            ("reproduce", s.repro.clone()),
        ];
        let seconds = s.stack_seconds + s.run_seconds + s.teardown_seconds;
        suite(&mut body, &s.name, &props, &cases, seconds);
    }
    let _ = writeln!(
        o,
        r#"<testsuites name="faultline gate" tests="{tests}" failures="{failures}" errors="{errors}" time="{:.3}">"#,
        report.timings.total_seconds
    );
    o.push_str(&body);
    o.push_str("</testsuites>\n");
    o
}
