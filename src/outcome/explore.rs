//! What exploring a service found (`runner::fault_search` produces it), as `verdict.json` holds it.

use super::{ScenarioOutcome, Status};
use crate::scenario::experiments::Mode;

/// What exploring one service found.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExploreReport {
    pub service: String,
    pub seed: u64,
    /// Why exploration could not judge the service (no valid workload, a reference run that
    /// fails without any fault); nothing else is meaningful then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The edges the reference run used.
    pub edges: Vec<String>,
    /// Experiments generated.
    pub planned: usize,
    /// Experiments that ran, in the order they were generated.
    pub ran: Vec<ExperimentResult>,
    /// Experiments left out by reduction, with why.
    pub skipped: Vec<(String, String)>,
    /// Experiments not run: the budget left no time for them, or (in the gate) a failure
    /// was found already.
    pub unexplored: Vec<String>,
    pub seconds: f64,
}

/// One experiment's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExperimentResult {
    pub class: String,
    pub on: String,
    pub mode: Mode,
    pub outcome: ScenarioOutcome,
    /// The scenario file of a failed experiment, `why: TODO`, for `--write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
}

impl ExploreReport {
    pub fn failed(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Failed)
    }

    /// Experiments that could not run (a stack that did not come up, a fault that could not
    /// be applied): the service was not explored as planned.
    pub fn errors(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Error)
    }
}
