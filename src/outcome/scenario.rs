//! What one scenario observed: its steps, checks, fault windows and edges, and the one rule
//! ([`ScenarioOutcome::judge`]) that turns them into its status. The runner produces it; the
//! verdict, the reporters and `report merge` read it.

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
    /// How its requests were answered, by grade (steps that send requests only): what the
    /// differential oracle compares with the base revision under the same fault.
    #[serde(default, skip_serializing_if = "Answered::is_empty")]
    pub answered: Answered,
}

/// How a step's requests were answered, counted by grade, best first: answered in time
/// with success (below 400), rejected in time (4xx), failed in time (5xx), answered late
/// (past the step's `within`), not answered at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Answered {
    #[serde(default)]
    pub ok: usize,
    #[serde(default)]
    pub rejected: usize,
    #[serde(default)]
    pub failed: usize,
    #[serde(default)]
    pub late: usize,
    #[serde(default)]
    pub none: usize,
}

impl Answered {
    /// The grades from best to worst, with their names.
    pub fn grades(&self) -> [(&'static str, usize); 5] {
        [
            ("answered in time", self.ok),
            ("rejected (4xx) in time", self.rejected),
            ("failed (5xx) in time", self.failed),
            ("answered late", self.late),
            ("not answered", self.none),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.grades().iter().all(|(_, n)| *n == 0)
    }

    /// Whether these answers are worse than `than`'s: for some grade, fewer requests were
    /// answered at that grade or better (each request of `than` had a counterpart at least
    /// as good here otherwise). Steps that sent different numbers of requests are not compared.
    pub fn worse_than(&self, than: &Answered) -> bool {
        let (a, b) = (self.grades(), than.grades());
        if a.iter().map(|g| g.1).sum::<usize>() != b.iter().map(|g| g.1).sum::<usize>() {
            return false;
        }
        let (mut mine, mut theirs) = (0, 0);
        a.iter().zip(b.iter()).any(|(x, y)| {
            mine += x.1;
            theirs += y.1;
            mine < theirs
        })
    }
}

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> =
            self.grades().iter().filter(|(_, n)| *n > 0).map(|(g, n)| format!("{n} {g}")).collect();
        if parts.is_empty() { write!(f, "no request") } else { write!(f, "{}", parts.join(", ")) }
    }
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
    /// Whether the stack was started for this scenario or reused, reset and proven clean.
    #[serde(default)]
    pub stack: StackUse,
    /// Bytes that had crossed each edge when the steps began (what the steps sent is the
    /// rest): which edges the workload itself used.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub edge_bytes_before_steps: BTreeMap<String, u64>,
}

/// The stack a scenario ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct StackUse {
    /// A stack of an earlier scenario, reset to its first-ready state and proven by the
    /// fingerprints of its stateful services. `false`: started for this scenario.
    pub reused: bool,
    /// How long the reset took.
    #[serde(default)]
    pub reset_seconds: f64,
    /// Of a reused stack, the application (`recreate`) services the reset restarted in place
    /// (their containers had written nothing) and those it removed and created again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarted: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recreated: usize,
    /// Why a stack that could have been reused was discarded for a fresh one (a reset that
    /// failed, a fingerprint that differed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ScenarioOutcome {
    /// Sets `status` from what the scenario observed. The one rule, used by the runner when a
    /// scenario or an experiment ends and by `report merge` on every outcome a shard reports
    /// (a shard's own status is not taken on trust), so a merged verdict is the unsharded one:
    ///
    /// - an error recorded while running (`status` already `error`, or an `error` reason: the
    ///   stack did not come up, a step could not be sent) stands, whatever status a shard
    ///   wrote beside it;
    /// - else any failed step, or any failed check that observed something, fails it: a
    ///   failure is a finding even when another check could not judge;
    /// - else a check that observed nothing makes it an error (could not verify);
    /// - else an outcome with no step and no check is an error: nothing was judged (validation
    ///   rejects such a scenario, so only a truncated or forged report holds one);
    /// - else it passed.
    pub fn judge(&mut self) {
        if self.status == Status::Error || self.error.is_some() {
            self.status = Status::Error;
            return;
        }
        let failed = self.steps.iter().any(|s| !s.passed) || self.checks.iter().any(|c| !c.passed && !c.unobserved);
        if failed {
            self.status = Status::Failed;
        } else if let Some(c) = self.checks.iter().find(|c| c.unobserved) {
            self.status = Status::Error;
            self.error = Some(format!("check {} ({}) observed nothing: {}", c.index + 1, c.check, c.observed));
        } else if self.steps.is_empty() && self.checks.is_empty() {
            self.status = Status::Error;
            self.error = Some("no step and no check of this scenario was recorded: nothing was judged".into());
        } else {
            self.status = Status::Passed;
        }
    }

    /// This outcome, as one that could not run for `reason`.
    pub fn error(mut self, reason: String) -> ScenarioOutcome {
        self.set_error(reason);
        self
    }

    /// Marks this outcome as one that could not run for `reason`.
    pub fn set_error(&mut self, reason: String) {
        self.status = Status::Error;
        self.error = Some(reason);
    }

    /// The first failing step or check, as `(what, expected, observed)`.
    pub(crate) fn first_failure(&self) -> Option<(String, String, String)> {
        self.failures().next()
    }

    /// Every failed step, then every failed check: (what, expected, observed).
    pub(crate) fn failures(&self) -> impl Iterator<Item = (String, String, String)> + '_ {
        let steps = self
            .steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| (format!("step {}: {}", s.index + 1, s.step), s.expected.clone(), s.observed.clone()));
        let checks = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| (format!("check {}: {}", c.index + 1, c.check), c.expected.clone(), c.observed.clone()));
        steps.chain(checks)
    }
}
