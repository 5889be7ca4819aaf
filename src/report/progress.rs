//! Progress lines for a person watching a gate, a run or an exploration: one function from a
//! runner [`Event`] to the line it prints (or none), and one to the finer line of what
//! happens inside a run (a fault applied, a step judged), which the command line logs at
//! `-v`.

use crate::outcome::{ScenarioOutcome, Status};
use crate::plan::Plan;
use crate::runner::event::Event;

/// The line `event` prints, if any.
pub fn line(event: &Event<'_>) -> Option<String> {
    Some(match event {
        Event::Planned(plan) => plan_line(plan),
        Event::Partition { share, running, selected } => {
            format!("partition {share}: {running} of the {selected} selected scenarios")
        }
        Event::Preparing(commands) => {
            if commands.is_empty() {
                return None;
            }
            let list: Vec<String> = commands.iter().map(|(svc, cmd)| format!("`{cmd}` ({svc})")).collect();
            format!(
                "prepare: {} on the code under test, where the base's `isolation:` says (a container unless it opts out), then the images; a first build (after a branch switch, on a cold cache) can take minutes",
                list.join(", ")
            )
        }
        Event::ScenarioStarted { name, target } => format!("running {name} (target {target})"),
        Event::ScenarioFinished(o) => super::outcome::render_outcome(o),
        Event::ExploreSkipped { service, why } => format!("explore {service}: {why}"),
        Event::ReferenceStarted { service } => format!("explore {service}: reference run of its workload"),
        Event::ReferenceRepeated { service, passes, unused } => format!(
            "explore {service}: no traffic on {} in one pass; the workload again, {passes} passes in a row",
            unused.join(", ")
        ),
        Event::ExperimentsPlanned { service, experiments, edges } => format!(
            "explore {service}: {experiments} experiments on {} edge{} ({})",
            edges.len(),
            if edges.len() == 1 { "" } else { "s" },
            edges.join(", ")
        ),
        Event::ExperimentFinished { outcome, .. } => experiment_line(outcome),
        Event::Explored(r) => super::explore::render(r),
        Event::Note(text) => (*text).to_owned(),
        Event::StackReady { .. }
        | Event::FaultApplied { .. }
        | Event::FaultUndone { .. }
        | Event::StepFinished { .. }
        | Event::CheckFinished { .. } => return None,
    })
}

/// The finer line of an event inside a run, if it is one.
pub fn detail(event: &Event<'_>) -> Option<String> {
    let mark = |passed: bool| if passed { "ok" } else { "FAILED" };
    Some(match event {
        Event::StackReady { scenario, stack, seconds } => {
            let how = match (&stack.discarded, stack.reused) {
                (Some(why), _) => format!("started after discarding an idle stack ({why})"),
                (None, true) => format!("reused, reset in {:.1} s", stack.reset_seconds),
                (None, false) => "started".to_owned(),
            };
            format!("{scenario}: stack {how}, ready in {seconds:.1} s")
        }
        Event::FaultApplied { scenario, fault, on, what, at_ms } => {
            format!("{scenario}: {fault} on {on} ({what}) applied at {at_ms:.0} ms")
        }
        Event::FaultUndone { scenario, fault, on, at_ms } => {
            format!("{scenario}: {fault} on {on} undone at {at_ms:.0} ms")
        }
        Event::StepFinished { scenario, step } => format!(
            "{scenario}: step {} {} {}: {}",
            step.index + 1,
            step.step,
            mark(step.passed),
            step.observed.lines().next().unwrap_or_default()
        ),
        Event::CheckFinished { scenario, check } => format!(
            "{scenario}: check {} {}: {}",
            check.check,
            if check.unobserved { "UNOBSERVED" } else { mark(check.passed) },
            check.observed.lines().next().unwrap_or_default()
        ),
        _ => return None,
    })
}

/// The one line of progress that says what the plan is.
fn plan_line(planned: &Plan) -> String {
    format!(
        "plan: tier {}, {}AI-assisted, {} affected, {} scenario{}{}",
        planned.tier.map_or("none".into(), |t| t.to_string()),
        if planned.ai_assisted { "" } else { "not " },
        planned.affected.len(),
        planned.scenarios.len(),
        if planned.scenarios.len() == 1 { "" } else { "s" },
        if planned.signoff_required { ", sign-off required" } else { "" }
    )
}

/// One line per experiment as it ends (the report renders the failures in full).
fn experiment_line(o: &ScenarioOutcome) -> String {
    let mark = match o.status {
        Status::Passed => "pass ",
        Status::Failed => "FAIL ",
        Status::Error => "ERROR",
    };
    format!("{mark}  {} in {:.1} s", o.name, o.stack_seconds + o.run_seconds)
}
