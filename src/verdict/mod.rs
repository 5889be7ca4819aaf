//! Stage 7, the verdict: what each scenario observed, and what that means for the change —
//! allow, block, or could not verify (which blocks too).

use serde::Serialize;

pub use crate::runner::outcome::{CheckOutcome, FaultWindow, ScenarioOutcome, Status, StepOutcome};

mod report;
mod signoff;

pub(crate) use report::with_exploration;
pub use report::{GateReport, GateTimings, Partition};
pub use signoff::{
    Approval, AreaSignoff, GivenApprovals, IgnoredApproval, SignoffLine, SignoffState, areas_of, signoff,
    trusted_source,
};

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
