//! `faultline repro DIR/verdict.json`: runs again exactly what a gate ran — the same head
//! commit, configuration and scenarios from the same base commit, the same seed (so the same
//! fault schedule and the same random draws), the same labels and approvals — and says
//! whether each scenario came out the same.

use std::path::Path;

use crate::change::ChangeSpec;
use crate::change::provenance::EvidenceKind;
use crate::gate::GateRequest;
use crate::outcome::GateReport;
use crate::outcome::Status;
use crate::plan::{ConfigFrom, PlanRequest};

/// One scenario, then and now.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub name: String,
    pub before: Status,
    /// `None`: it did not run this time.
    pub after: Option<Status>,
    /// The failed steps and checks, then and now.
    pub before_failures: Vec<String>,
    pub after_failures: Vec<String>,
    pub same: bool,
}

pub struct Repro {
    pub report: GateReport,
    pub comparisons: Vec<Comparison>,
    /// The scenario's stack, still running, when asked to keep it.
    pub stack: Option<crate::stack::Stack>,
}

impl Repro {
    pub fn reproduced(&self) -> bool {
        self.comparisons.iter().all(|c| c.same)
    }
}

fn failures(o: &crate::outcome::ScenarioOutcome) -> Vec<String> {
    let steps = o.steps.iter().filter(|s| !s.passed).map(|s| format!("step {}: {}", s.index + 1, s.step));
    let checks = o.checks.iter().filter(|c| !c.passed).map(|c| format!("check {}: {}", c.index + 1, c.check));
    steps.chain(checks).collect()
}

/// Why a gate's report cannot be run again.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    #[error("this gate could not plan ({reasons}): there is nothing to reproduce")]
    NoPlan { reasons: String },
    #[error("this gate judged a working tree, which is not recorded: only gates of commits can be reproduced")]
    Worktree,
    #[error("this gate ran no scenario: there is nothing to reproduce")]
    NothingRan,
    #[error("`{name}` is not a scenario this gate ran; it ran: {ran}")]
    NotRun { name: String, ran: String },
}

/// What to run again: the original's request, read back from its report.
pub fn request(original: &GateReport, scenarios: &[String], jobs: usize) -> Result<GateRequest, ReproError> {
    let Some(plan) = &original.plan else {
        return Err(ReproError::NoPlan { reasons: original.reasons.join("; ") });
    };
    let Some(head) = &plan.head else {
        return Err(ReproError::Worktree);
    };
    let ran: Vec<String> = original.scenarios.iter().map(|s| s.name.clone()).collect();
    if ran.is_empty() {
        return Err(ReproError::NothingRan);
    }
    for s in scenarios {
        if !ran.contains(s) {
            return Err(ReproError::NotRun { name: s.clone(), ran: ran.join(", ") });
        }
    }
    let only = if scenarios.is_empty() { ran } else { scenarios.to_vec() };
    let labels = plan.ai_evidence.iter().filter(|e| e.kind == EvidenceKind::Label).map(|e| e.value.clone()).collect();
    let approved_by = original
        .signoff
        .iter()
        .flat_map(|s| &s.approvals)
        .filter(|a| crate::verdict::trusted_source(&a.source))
        .map(|a| a.who.clone())
        .collect();
    Ok(GateRequest {
        plan: PlanRequest {
            change: ChangeSpec::Revisions { base: plan.base.commit.clone(), head: head.commit.clone() },
            config_from: ConfigFrom::Base,
            labels,
            author: None,
            // The commits an earlier gate judged (and checked), run again: not a verdict.
            event: None,
            protected_base: false,
            codeowners_host: plan.codeowners.as_ref().map(|c| c.host),
        },
        approved_by,
        // The differences the original run accepted, from sources it trusted: accepted again.
        accept_difference: original
            .exploration
            .iter()
            .flat_map(|r| &r.ran)
            .filter_map(|x| Some(format!("{}={}", x.difference.as_deref()?, x.accepted.as_ref()?.by)))
            .collect(),
        code_host: None,
        seed: original.seed,
        timeout: None,
        ready_timeout: std::time::Duration::from_secs(60),
        jobs,
        prepare_env: Vec::new(),
        partition: None,
        only: Some(only),
        fresh_stacks: false,
        stacks_ahead: None,
        explore_budget: std::time::Duration::from_secs(300),
        base_results: None,
        record_base_results: false,
    })
}

/// Runs `req` (from [`request`]) in the repository at `repo_dir` and compares. With `keep`
/// and one scenario, its stack is left running in [`Repro::stack`].
pub async fn run(
    repo_dir: &Path,
    original: &GateReport,
    req: &GateRequest,
    keep: bool,
    events: &dyn crate::runner::event::Reporter,
) -> Repro {
    let (report, stack) = crate::gate::gate_keeping(repo_dir, req, keep, events).await;
    let only = req.only.clone().unwrap_or_default();
    let comparisons = original
        .scenarios
        .iter()
        .filter(|o| only.contains(&o.name))
        .map(|before| {
            let after = report.scenarios.iter().find(|a| a.name == before.name);
            let (b, a) = (failures(before), after.map(failures).unwrap_or_default());
            Comparison {
                name: before.name.clone(),
                before: before.status,
                after: after.map(|a| a.status),
                same: after.is_some_and(|x| x.status == before.status) && a == b,
                before_failures: b,
                after_failures: a,
            }
        })
        .collect();
    Repro { report, comparisons, stack }
}

/// For people: one line per scenario, then the conclusion.
pub fn render(r: &Repro) -> String {
    let word = |s: Option<Status>| match s {
        Some(Status::Passed) => "passed",
        Some(Status::Failed) => "failed",
        Some(Status::Error) => "could not run",
        None => "did not run",
    };
    let mut o = String::new();
    for c in &r.comparisons {
        let mark = if c.same { "same" } else { "DIFFERENT" };
        o.push_str(&format!("{mark:<9} {}: was {}, now {}\n", c.name, word(Some(c.before)), word(c.after)));
        if !c.same {
            o.push_str(&format!(
                "          then: {}\n",
                if c.before_failures.is_empty() { "-".into() } else { c.before_failures.join("; ") }
            ));
            o.push_str(&format!(
                "          now:  {}\n",
                if c.after_failures.is_empty() { "-".into() } else { c.after_failures.join("; ") }
            ));
        }
    }
    o.push_str(if r.reproduced() { "reproduced: the same result\n" } else { "not reproduced: the result differs\n" });
    o
}
