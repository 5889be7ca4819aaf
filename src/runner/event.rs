//! Typed events, as cargo-nextest's reporter events: the gate and the runner say what
//! happens as values, and whoever listens (the terminal's progress lines, a test, a
//! benchmark that wants silence) decides what to do with them. Nothing here formats text for
//! a person; `report::progress` does.

use crate::outcome::{CheckOutcome, ExploreReport, ScenarioOutcome, StackUse, StepOutcome};
use crate::plan::Plan;

/// One thing that happened while a gate, a run or an exploration worked.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The plan is made: what the gate will run and why.
    Planned(&'a Plan),
    /// This gate runs one share of the selected scenarios (`--partition`).
    Partition { share: &'a str, running: usize, selected: usize },
    /// The change's `prepare:` commands are about to run: `(service, command)`.
    Preparing(&'a [(String, String)]),
    /// A scenario's turn came; its stack is being started or reset.
    ScenarioStarted { name: &'a str, target: &'a str },
    /// A scenario's stack is ready: started, or reused after a reset that proved it clean,
    /// or started after an idle one could not be reset and was discarded (`stack` says
    /// which), `seconds` after the scenario's turn came.
    StackReady { scenario: &'a str, stack: &'a StackUse, seconds: f64 },
    /// A fault of a scenario is in place, `at_ms` after its steps' clock started (0: before
    /// the first step).
    FaultApplied { scenario: &'a str, fault: &'a str, on: &'a str, what: &'a str, at_ms: f64 },
    /// A fault of a scenario is undone.
    FaultUndone { scenario: &'a str, fault: &'a str, on: &'a str, at_ms: f64 },
    /// A step of a scenario ended, judged.
    StepFinished { scenario: &'a str, step: &'a StepOutcome },
    /// A check of a scenario ended, judged.
    CheckFinished { scenario: &'a str, check: &'a CheckOutcome },
    /// A scenario ended, with everything it observed.
    ScenarioFinished(&'a ScenarioOutcome),
    /// A service is not explored, and why.
    ExploreSkipped { service: &'a str, why: &'a str },
    /// The fault-free reference run of a service's workload starts.
    ReferenceStarted { service: &'a str },
    /// Declared edges of a service's stack carried no traffic in the reference: its workload
    /// runs again, `passes` times in a row.
    ReferenceRepeated { service: &'a str, passes: u32, unused: &'a [String] },
    /// The experiments of a service are generated from what its reference run used.
    ExperimentsPlanned { service: &'a str, experiments: usize, edges: &'a [String] },
    /// One experiment ended.
    ExperimentFinished { service: &'a str, outcome: &'a ScenarioOutcome },
    /// The exploration of a service ended.
    Explored(&'a ExploreReport),
    /// A line an orchestrator says between gates (the demo's narration).
    Note(&'a str),
}

/// Whoever listens to [`Event`]s. Any `Fn(&Event)` closure is one.
pub trait Reporter: Sync {
    fn report(&self, event: &Event<'_>);
}

impl<F: Fn(&Event<'_>) + Sync> Reporter for F {
    fn report(&self, event: &Event<'_>) {
        self(event)
    }
}

/// Listens to nothing (benchmarks, tests that only read the verdict).
pub struct Quiet;

impl Reporter for Quiet {
    fn report(&self, _: &Event<'_>) {}
}
