//! Stage 7, the verdict: what the scenarios observed ([`crate::outcome`], already judged
//! one by one by [`ScenarioOutcome::judge`]) and the sign-off mean for the change — allow,
//! block, or could not verify (which blocks too). The gate, `run` and `report merge` decide
//! here; the records they decide on are plain data in [`crate::outcome`].

use std::time::Instant;

use crate::outcome::{Decision, GateReport, ScenarioOutcome, SignoffState, Status};

pub mod accept;
mod exploration;
mod signoff;

pub(crate) use exploration::with_exploration;
pub use signoff::{GivenApprovals, SignoffLine, areas_of, signoff, trusted_source};

/// Decides from scenario outcomes and the sign-off state: any error → could not verify;
/// any failure or a missing sign-off → block; else allow. A missing sign-off whose
/// approvals could not be read (`SignoffState::unreadable`) is unjudged: could not verify,
/// unless a failed scenario blocks anyway.
pub fn decide(outcomes: &[ScenarioOutcome], signoff: Option<&SignoffState>) -> (Decision, Vec<String>) {
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
    let missing = signoff.filter(|s| !s.satisfied);
    let failed = !reasons.is_empty();
    reasons.extend(missing.map(SignoffState::missing_reason));
    let decision = if outcomes.iter().any(|o| o.status == Status::Error)
        || (!failed && missing.is_some_and(|s| s.unreadable.is_some()))
    {
        Decision::Unverified
    } else if !reasons.is_empty() {
        Decision::Block
    } else {
        Decision::Allow
    };
    (decision, reasons)
}

/// The gate's decision, on the report it fills (`verdict.json`).
impl GateReport {
    /// The verdict from the scenarios' outcomes and the sign-off. A shard (`--partition`)
    /// leaves the sign-off to `report merge`, which reads the approvals itself: its own
    /// verdict is its scenarios' and exploration's.
    pub fn decide(mut self, outcomes: Vec<ScenarioOutcome>, start: Instant) -> GateReport {
        let signoff = self.signoff.as_ref().filter(|_| self.partition.is_none());
        let (decision, mut reasons) = decide(&outcomes, signoff);
        if self.partition.is_some() && self.signoff.as_ref().is_some_and(|s| s.required) {
            reasons.push("the sign-off is judged by `faultline report merge`, which reads the approvals itself".into());
        }
        if decision == Decision::Allow
            && outcomes.is_empty()
            && self.exploration.is_empty()
            && let Some(planned) = &self.plan
        {
            reasons.push(if planned.nothing_changed() {
                "nothing changed".into()
            } else {
                format!(
                    "no scenario selected ({}), no sign-off missing",
                    planned.gate.as_ref().map_or("no tier".into(), |g| format!(
                        "{}: scenarios {}",
                        g.source,
                        g.scenarios.as_str()
                    ))
                )
            });
        }
        let rule = self.plan.as_ref().and_then(|p| p.gate.as_ref());
        let unexercised = rule.map(|g| g.unexercised).unwrap_or_default();
        let partial = rule.map(|g| g.partial_exploration).unwrap_or_default();
        let (decision, reasons) = with_exploration(decision, reasons, &self.exploration, unexercised, partial);
        self.decision = decision;
        self.reasons = reasons;
        self.scenarios = outcomes;
        self.timings.total_seconds = start.elapsed().as_secs_f64();
        self
    }
}
