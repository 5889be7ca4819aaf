//! Scenario outcomes and the verdict as text for people: for a failure, the scenario, its
//! `why:`, what was expected and observed, and the command that reproduces it.

use std::fmt::Write;

use crate::outcome::{Decision, ScenarioOutcome, Status};

pub fn render_outcome(o: &ScenarioOutcome) -> String {
    let mut s = String::new();
    let mark = match o.status {
        Status::Passed => "pass",
        Status::Failed => "FAIL",
        Status::Error => "ERROR",
    };
    let _ = writeln!(
        s,
        "{mark:<5}  {} (target {}, seed {}) in {:.1} s",
        o.name,
        o.target,
        o.seed,
        o.stack_seconds + o.run_seconds
    );
    if o.status == Status::Passed {
        return s;
    }
    for line in o.why.lines() {
        let _ = writeln!(s, "       why: {line}");
    }
    if let Some(e) = &o.error {
        let _ = writeln!(s, "       could not run: {e}");
    }
    for st in o.steps.iter().filter(|x| !x.passed) {
        let _ = writeln!(
            s,
            "       step {}: {}\n         expected {}\n         observed {}",
            st.index + 1,
            st.step,
            st.expected,
            st.observed
        );
    }
    for c in o.checks.iter().filter(|x| !x.passed) {
        let _ = writeln!(
            s,
            "       check {} ({}:{}): {}\n         expected {}\n         observed {}",
            c.index + 1,
            o.file,
            c.line,
            c.check,
            c.expected,
            c.observed
        );
    }
    let _ = writeln!(s, "       reproduce: {}", o.repro);
    s
}

pub fn render_decision(decision: Decision, reasons: &[String]) -> String {
    let head = match decision {
        Decision::Allow => "verdict: ALLOW",
        Decision::Block => "verdict: BLOCK",
        Decision::Unverified => "verdict: COULD NOT VERIFY (blocks)",
    };
    let mut s = format!("{head}\n");
    for r in reasons {
        let _ = writeln!(s, "  - {r}");
    }
    s
}
