//! Stage 7, the verdict: what each scenario observed, and what that means for the change —
//! allow, block, or could not verify (which blocks too).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fault::Observations;

/// One step's result: what was expected and what was observed.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepOutcome {
    pub index: usize,
    pub step: String,
    pub passed: bool,
    pub expected: String,
    pub observed: String,
    /// When it started and ended, in ms from the start of the steps.
    #[serde(default)]
    pub start_ms: f64,
    #[serde(default)]
    pub end_ms: f64,
}

/// A fault as it happened: from when to when, in ms from the start of the steps.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FaultWindow {
    /// `faults[i]` of the scenario file.
    pub name: String,
    /// The edge (`a -> b`) or service.
    pub on: String,
    /// `latency=3s`, `pause`, …
    pub what: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// One check's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    pub index: usize,
    /// Line of the check in the scenario file.
    pub line: usize,
    pub check: String,
    pub passed: bool,
    pub expected: String,
    pub observed: String,
    /// The check had nothing to judge (no request crossed the edge it bounds): it neither
    /// passed nor failed, and the scenario could not be verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unobserved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// The scenario could not run (the stack did not come up, a step could not be sent…).
    Error,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScenarioOutcome {
    pub name: String,
    pub file: String,
    pub target: String,
    pub why: String,
    pub seed: u64,
    pub status: Status,
    /// Why it could not run, when `status` is `error`.
    pub error: Option<String>,
    pub steps: Vec<StepOutcome>,
    pub checks: Vec<CheckOutcome>,
    /// What crossed each edge and ingress, by name (`orders -> payments`, `host -> orders`).
    pub edges: BTreeMap<String, Observations>,
    /// Where each edge's clock (its `start_ms`) starts, in ms from the start of the steps
    /// (negative: edges start with the stack, before the steps).
    #[serde(default)]
    pub edge_offsets_ms: BTreeMap<String, f64>,
    /// The faults as they happened.
    #[serde(default)]
    pub faults: Vec<FaultWindow>,
    /// When the checks ran, in ms from the start of the steps.
    #[serde(default)]
    pub checks_ms: f64,
    /// Starting the stack (images already built).
    pub stack_seconds: f64,
    /// Faults, steps and checks.
    pub run_seconds: f64,
    /// Removing the stack.
    pub teardown_seconds: f64,
    /// The command that runs this scenario again, the same way.
    pub repro: String,
}

impl ScenarioOutcome {
    /// The first failing step or check, as `(what, expected, observed)`.
    pub fn first_failure(&self) -> Option<(String, String, String)> {
        let step = self
            .steps
            .iter()
            .find(|s| !s.passed)
            .map(|s| (format!("step {}: {}", s.index + 1, s.step), s.expected.clone(), s.observed.clone()));
        step.or_else(|| {
            self.checks
                .iter()
                .find(|c| !c.passed)
                .map(|c| (format!("check {}: {}", c.index + 1, c.check), c.expected.clone(), c.observed.clone()))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Block,
    Unverified,
}

impl Decision {
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Allow => crate::exit::ALLOW,
            Decision::Block => crate::exit::BLOCK,
            Decision::Unverified => crate::exit::UNVERIFIED,
        }
    }
}

/// Decides from scenario outcomes and the sign-off state: any error → could not verify;
/// any failure or a missing sign-off → block; else allow.
/// `signoff_missing` is why a required sign-off is missing, if it is.
pub fn decide(outcomes: &[ScenarioOutcome], signoff_missing: Option<String>) -> (Decision, Vec<String>) {
    let mut reasons = Vec::new();
    for o in outcomes {
        match o.status {
            Status::Error => reasons.push(format!(
                "scenario {} could not run: {}",
                o.name,
                o.error.as_deref().unwrap_or("unknown error")
            )),
            Status::Failed => {
                if let Some((what, expected, observed)) = o.first_failure() {
                    reasons.push(format!(
                        "scenario {} failed at {what}: expected {expected}, observed {observed}",
                        o.name
                    ));
                }
            }
            Status::Passed => {}
        }
    }
    if let Some(why) = signoff_missing {
        reasons.push(why);
    }
    let decision = if outcomes.iter().any(|o| o.status == Status::Error) {
        Decision::Unverified
    } else if !reasons.is_empty() {
        Decision::Block
    } else {
        Decision::Allow
    };
    (decision, reasons)
}
