//! The runner: one scenario on a fresh stack (`run`), its workload (`workload`), the checks
//! (`checks`) and the repository's own tests (`nextest`), after the stack and fault stages.
//!
//! Runs one scenario on a fresh stack: the fault timeline and the steps on one clock, every
//! fault undone when the steps end, then the checks. A fresh stack per scenario makes results
//! independent of the order scenarios run in and of what ran before.

mod agree;
pub mod base_results;
mod checks;
pub mod depinfo;
mod error;
pub mod event;
pub mod fault_search;
pub(crate) mod nextest;
pub mod pool;
mod probe;
mod steps;
pub mod supervise;
mod timeline;
mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::outcome::{CheckOutcome, CommandLog, ScenarioOutcome, Status, StepOutcome};
use crate::scenario::validate::{CheckKind, FaultTarget, RequestStep, Scenario, StepKind};
use crate::stack::{RunOptions, Teardowns};
use crate::stack::{Stack, StackError, Start};
use event::{Event, Reporter};
use steps::{StepCtx, run_step};
use timeline::{FaultChange, Windows, apply, fault_on_timeline, fault_windows, report_fault};

pub use error::PrepareError;
pub(crate) use error::RunError;
pub use nextest::NextestError;

/// Waits for every removal handed to `teardowns`; returns their summed seconds.
pub(crate) async fn finish_teardowns(teardowns: &Teardowns) -> f64 {
    let tasks: Vec<_> = std::mem::take(&mut *teardowns.lock().unwrap_or_else(|e| e.into_inner()));
    join_all(tasks).await.into_iter().map(|r| r.unwrap_or(0.0)).sum()
}

/// A rough guess of how long `scenario` takes once its stack is up, from what it says. A
/// request costs its `within` bound when a fault makes answers slow (latency, a stall, a
/// pause), a fraction of a second otherwise; timed faults, restarts and checks add theirs.
/// Used to start the longest scenarios first, so that several at once finish sooner.
pub fn estimated(scenario: &Scenario) -> Duration {
    let second = Duration::from_secs(1);
    let slow = scenario.faults.iter().any(|f| f.target.slows());
    let steps: Duration = scenario
        .steps
        .iter()
        .map(|st| match st {
            StepKind::Request(RequestStep { repeat, concurrency, expect, .. }) => {
                let each = if slow { expect.within.unwrap_or(2 * second).min(10 * second) } else { second / 4 };
                each * repeat.div_ceil(*concurrency)
            }
            StepKind::Load { duration, .. } => *duration,
            StepKind::Sleep(d) => *d,
            StepKind::Exec { .. } | StepKind::Nextest { .. } => 2 * second,
        })
        .sum();
    let restarts = scenario.faults.iter().filter(|f| f.target.restarts()).count() as u32;
    let timed = scenario.faults.iter().filter_map(|f| f.duration.map(|d| f.at + d)).max().unwrap_or_default();
    let checks: Duration =
        scenario.checks.iter().map(|c| if matches!(c, CheckKind::Recovers { .. }) { second } else { second / 5 }).sum();
    steps.max(timed) + 2 * second * restarts + checks
}

/// Where the time of [`prepare_once`] went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Prepared {
    /// `prepare:` commands and the tests of `nextest` steps.
    pub build_seconds: f64,
    /// Images checked by tag, missing ones built.
    pub images_seconds: f64,
    /// Services whose image had to be built.
    pub images_built: Vec<String>,
    /// The `prepare:` commands that ran, with the end of their output.
    pub commands: Vec<CommandLog>,
}

/// The distinct `prepare:` commands [`prepare_once`] is about to run: `(service, command)`.
pub fn prepare_commands(scenarios: &[&Scenario], config: &Config) -> Vec<(String, String)> {
    let services = stack_services(scenarios);
    crate::stack::prepare_commands(config, &services).into_iter().map(|(s, c)| (s.to_owned(), c.to_owned())).collect()
}

/// The services the scenarios' stacks start, in order of first use.
pub(crate) fn stack_services(scenarios: &[&Scenario]) -> Vec<String> {
    let mut services: Vec<String> = Vec::new();
    for s in scenarios {
        for svc in &s.stack {
            if !services.contains(svc) {
                services.push(svc.clone());
            }
        }
    }
    services
}

/// Runs the `prepare` commands of every service the scenarios start, once, so each
/// scenario's stack can skip them; checks and builds the tests of `nextest` steps; builds
/// the missing images, each once, all at once.
pub async fn prepare_once(
    scenarios: &[&Scenario],
    config: &Config,
    opts: &mut RunOptions,
) -> Result<Prepared, PrepareError> {
    prepare_once_after(scenarios, config, opts, &[]).await
}

/// [`prepare_once`], leaving out the `prepare:` commands in `done`, which already ran in
/// `opts.root` (the gate's build of every service, whose dep-info it reads).
pub async fn prepare_once_after(
    scenarios: &[&Scenario],
    config: &Config,
    opts: &mut RunOptions,
    done: &[String],
) -> Result<Prepared, PrepareError> {
    let early = opts.early_images(config, &stack_services(scenarios), done);
    prepare_once_with(scenarios, config, opts, done, early).await
}

/// [`prepare_once_after`], with `early` building images meanwhile (started by the caller,
/// who may have built more before): an image that fails to build ends the build with its
/// error, and every image is resolved again from `opts.root` once the build has ended.
pub(crate) async fn prepare_once_with(
    scenarios: &[&Scenario],
    config: &Config,
    opts: &mut RunOptions,
    done: &[String],
    mut early: crate::stack::overlap::EarlyImages,
) -> Result<Prepared, PrepareError> {
    let t = Instant::now();
    let services = stack_services(scenarios);
    let commands = early.during(build_change(scenarios, config, opts, &services, done)).await??;
    let build_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let early = early.finish().await?;
    let docker = crate::stack::docker::local_client().await?;
    let (_, images_built) = crate::stack::prepare_images_after(&docker, config, &services, &opts.root, &early).await?;
    opts.prepared = true;
    Ok(Prepared { build_seconds, images_seconds: t.elapsed().as_secs_f64(), images_built, commands })
}

/// The change's build: the `prepare:` commands of `services` not in `done`, then the tests
/// of the scenarios' `nextest` steps (nextest there, the workspace, every filter selecting
/// something; compiled now so the steps only run them).
async fn build_change(
    scenarios: &[&Scenario],
    config: &Config,
    opts: &RunOptions,
    services: &[String],
    done: &[String],
) -> Result<Vec<CommandLog>, PrepareError> {
    let filters: Vec<(&str, &str)> = scenarios
        .iter()
        .flat_map(|s| {
            s.steps.iter().filter_map(move |st| match st {
                StepKind::Nextest { filter, .. } => Some((s.name.as_str(), filter.as_str())),
                _ => None,
            })
        })
        .collect();
    if !filters.is_empty() {
        nextest::preflight(&opts.root).await?;
    }
    // Code of the change in host `exec` steps: where it runs is known before anything starts.
    let host_exec =
        scenarios.iter().flat_map(|s| &s.steps).any(|st| matches!(st, StepKind::Exec { service: None, .. }));
    if host_exec || !filters.is_empty() {
        crate::stack::sandbox::place(config, "a host `exec` or `nextest` step")?;
    }
    let commands =
        crate::stack::prepare(config, services, &opts.root, &opts.prepare_env, done, &opts.build_cache).await?;
    let mut built: Vec<&str> = Vec::new();
    for (scenario, filter) in filters {
        if !built.contains(&filter) {
            let code = crate::stack::sandbox::ChangeCode::new(
                config,
                "a `nextest` step",
                &opts.root,
                &opts.prepare_env,
                &opts.build_cache,
            )?;
            nextest::build(&code, filter)
                .await
                .map_err(|error| PrepareError::Tests { scenario: scenario.to_owned(), error })?;
            built.push(filter);
        }
    }
    Ok(commands)
}

/// Runs `scenario` on a fresh stack; the stack is returned too when `keep` is set.
pub async fn run(scenario: &Scenario, config: &Config, opts: &RunOptions) -> (ScenarioOutcome, Option<Stack>) {
    run_reporting(scenario, config, opts, &event::Quiet).await
}

/// [`run`], telling `events` what happens inside it as it happens: the stack ready, each
/// fault applied and undone, each step and each check judged.
pub async fn run_reporting(
    scenario: &Scenario,
    config: &Config,
    opts: &RunOptions,
    events: &dyn Reporter,
) -> (ScenarioOutcome, Option<Stack>) {
    run_in_turn(scenario, config, opts, async {}, events).await
}

/// [`run`], whose faults, steps and checks wait for `turn` once the stack is up (and hold
/// what it yields until they end).
async fn run_in_turn<T>(
    scenario: &Scenario,
    config: &Config,
    opts: &RunOptions,
    turn: impl std::future::Future<Output = T>,
    events: &dyn Reporter,
) -> (ScenarioOutcome, Option<Stack>) {
    let mut out = blank_outcome(scenario, opts);
    // Phase 1: the stack.
    let t = Instant::now();
    let stack = match start_stack(scenario, config, opts, false).await {
        Ok(s) => s,
        Err(e) => return (out.error(format!("the stack did not come up: {e}")), None),
    };
    out.stack_seconds = t.elapsed().as_secs_f64();
    events.report(&Event::StackReady { scenario: &scenario.name, stack: &out.stack, seconds: out.stack_seconds });
    let held = turn.await;
    let (out, stack) = run_on(scenario, config, opts, stack, out, events).await;
    drop(held);
    // Phase 4: the stack kept, removed in the background, or removed now.
    match stack {
        Some(stack) => finish(stack, opts, out).await,
        None => (out, None),
    }
}

/// Phases 2 and 3 of a run on a stack that is up: faults, steps, checks. The stack comes
/// back unless a fault's task still holds it.
async fn run_on(
    scenario: &Scenario,
    config: &Config,
    opts: &RunOptions,
    stack: Stack,
    mut out: ScenarioOutcome,
    events: &dyn Reporter,
) -> (ScenarioOutcome, Option<Stack>) {
    let scratch = match tempfile::Builder::new().prefix("faultline-steps-").tempdir() {
        Ok(d) => d,
        Err(e) => return (out.error(format!("cannot create a temporary directory: {e}")), Some(stack)),
    };
    let t = Instant::now();
    let stack = Arc::new(Mutex::new(stack));

    // Phase 2: faults on their timeline and the steps, on one clock. Faults due at once are
    // in place before the first step.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut early_error = None;
    // What the truth of each `agrees:` holds before any fault.
    let truth = Arc::new(agree::Record::default());
    let session = Arc::new(workload::Session::new(captures(&scenario.steps)));
    for t in agree::truths(&scenario.steps) {
        truth.sample(&*stack.lock().await, &session, t).await;
    }
    for f in scenario.faults.iter().filter(|f| f.at.is_zero()) {
        if let Err(e) = apply(&stack, f, opts.ready_timeout).await {
            early_error = Some(e);
            break;
        }
        report_fault(events, scenario, FaultChange { index: f.index, applied: true, at_ms: 0.0 });
    }
    for ((from, to), p) in stack.lock().await.edges() {
        let o = p.observations();
        out.edge_bytes_before_steps.insert(format!("{from} -> {to}"), o.bytes_upstream + o.bytes_downstream);
    }
    let probe_addrs = probe::addrs(&*stack.lock().await, config, &scenario.probes);
    let clock = Instant::now();
    let ms = move || clock.elapsed().as_secs_f64() * 1e3;
    let windows: Windows = Arc::default();
    // The timeline's tasks say when they apply and undo a fault; this task reports it.
    let (changes, mut changed) = tokio::sync::mpsc::unbounded_channel();
    let timeline: Vec<_> = scenario
        .faults
        .iter()
        .cloned()
        .map(|f| {
            tokio::spawn(fault_on_timeline(
                f,
                stack.clone(),
                stop_rx.clone(),
                clock,
                opts.ready_timeout,
                windows.clone(),
                changes.clone(),
            ))
        })
        .collect();
    drop(changes);
    if let Some(e) = early_error {
        out = out.error(format!("a fault could not be applied: {e}"));
    }
    let mut exited = Vec::new();
    let ctx = StepCtx { opts, scratch: scratch.path(), config, session: session.clone(), truth: truth.clone() };
    let steps = async {
        for (i, step) in scenario.steps.iter().enumerate().filter(|_| out.status != Status::Error) {
            let start_ms = ms();
            match run_step(&stack, &ctx, i, step).await {
                Ok(s) => {
                    out.steps.push(StepOutcome { start_ms, end_ms: ms(), ..s });
                    if let Some(step) = out.steps.last() {
                        events.report(&Event::StepFinished { scenario: &scenario.name, step });
                    }
                }
                Err(e) => {
                    out.set_error(format!("step {}: {e}", i + 1));
                    break;
                }
            }
        }
        // Phase 3: every fault undone, then the checks and what crossed each edge.
        let _ = stop_tx.send(true);
        for r in join_all(timeline).await {
            fault_ended(r, &mut out, &mut exited);
        }
    };
    let forward = async {
        while let Some(change) = changed.recv().await {
            report_fault(events, scenario, change);
        }
    };
    let probes = probe::watch_all(&scenario.probes, probe_addrs, clock, &stop_rx);
    let ((), (), probes) = tokio::join!(steps, forward, probes);
    let after = After { quiet: Instant::now(), probes, truth };
    out.faults = fault_windows(scenario, &windows);
    out.checks_ms = ms();
    check_phase(scenario, &*stack.lock().await, &session, &mut out, events, after).await;
    exited_after_restart(scenario, &*stack.lock().await, &mut exited).await;
    for mut c in exited {
        c.index = out.checks.len();
        out.checks.push(c);
    }
    observe_edges(&*stack.lock().await, &mut out, ms());
    out.judge();
    out.run_seconds = t.elapsed().as_secs_f64();
    match Arc::try_unwrap(stack) {
        Ok(m) => (out, Some(m.into_inner())),
        Err(_) => (out, None),
    }
}

/// The names the steps capture (`capture:`), which later requests and truths may name.
fn captures(steps: &[crate::scenario::validate::StepKind]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in steps {
        if let crate::scenario::validate::StepKind::Request(r) = s {
            out.extend(r.capture.iter().map(|(n, _)| n.clone()).filter(|n| !out.contains(n)).collect::<Vec<_>>());
        }
    }
    out
}

/// What the check phase needs of phase 2.
struct After {
    /// When the steps ended and every fault was undone: `settled` checks count from here.
    quiet: Instant,
    /// What each of the scenario's probes saw.
    probes: Vec<Result<probe::ProbeLog, StackError>>,
    /// What the truth of each `agrees:` held and what the steps answered.
    truth: Arc<agree::Record>,
}

/// Phase 3's checks (a `settled` one judged again until it holds or its bound has passed
/// since `after.quiet`), then the probes as checks, then whether anything outside the
/// scenario changed the stack.
async fn check_phase(
    scenario: &Scenario,
    stack: &Stack,
    session: &workload::Session,
    out: &mut ScenarioOutcome,
    events: &dyn Reporter,
    after: After,
) {
    if out.status != Status::Error {
        for judged in written_checks(scenario, stack, session, after.quiet).await {
            events.report(&Event::CheckFinished { scenario: &scenario.name, check: &judged });
            out.checks.push(judged);
        }
        // Answers agree with the source of truth: the truth once the faults have ended too.
        for t in agree::truths(&scenario.steps) {
            after.truth.sample(stack, session, t).await;
        }
        for (i, step, a) in agree::agreeing(&scenario.steps) {
            let during = agree::during(i, step, a, &after.truth, out.checks.len());
            events.report(&Event::CheckFinished { scenario: &scenario.name, check: &during });
            out.checks.push(during);
            let judged = agree::after(stack, session, i, step, a, after.quiet, out.checks.len()).await;
            events.report(&Event::CheckFinished { scenario: &scenario.name, check: &judged });
            out.checks.push(judged);
        }
        for (i, (p, log)) in scenario.probes.iter().zip(after.probes).enumerate() {
            let log = match log {
                Ok(log) => log,
                Err(e) => {
                    out.set_error(format!("the probe {} could not be sent: {e}", p.line));
                    break;
                }
            };
            let line = scenario.probe_lines.get(i).copied().unwrap_or(0);
            let judged = probe::judge(out.checks.len(), line, p, &log, &out.faults);
            events.report(&Event::CheckFinished { scenario: &scenario.name, check: &judged });
            out.checks.push(judged);
        }
    }
    // A container removed, killed or cut off from outside: nothing observed says anything
    // about the change.
    let outside = stack.interference().await;
    if !outside.is_empty() {
        out.set_error(format!(
            "the stack was changed from outside the scenario, so this run cannot judge the change: {}",
            outside.join("; ")
        ));
    }
}

/// The scenario's written checks, judged in their written order: one that acts on the system
/// (sends requests: `recovers`) alone, and each run of checks between two that act (they only
/// read: queries, logs, what crossed an edge) at once, so the phase costs the slowest read of
/// a run, not their sum (each query is a `docker exec`). What a check that acts did is seen
/// by every check written after it, as when they ran one by one.
async fn written_checks(
    scenario: &Scenario,
    stack: &Stack,
    session: &workload::Session,
    quiet: Instant,
) -> Vec<crate::outcome::CheckOutcome> {
    let judge = |i: usize| {
        let line = scenario.check_lines.get(i).copied().unwrap_or(0);
        let settle = scenario.settle.get(i).copied().flatten().map(|bound| (bound, quiet));
        checks::run(stack, i, line, &scenario.checks[i], session, settle)
    };
    let acts: Vec<bool> = scenario.checks.iter().map(|c| c.acts()).collect();
    let mut judged = Vec::with_capacity(scenario.checks.len());
    for run in runs_at_once(&acts) {
        judged.extend(join_all(run.map(judge)).await);
    }
    judged
}

/// The checks judged together, in order, from whether each acts: one that acts alone, and
/// each stretch of those that do not between two that do.
fn runs_at_once(acts: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < acts.len() {
        let end = if acts[i] { i + 1 } else { (i..acts.len()).find(|k| acts[*k]).unwrap_or(acts.len()) };
        runs.push(i..end);
        i = end;
    }
    runs
}

/// An outcome with nothing run yet.
fn blank_outcome(scenario: &Scenario, opts: &RunOptions) -> ScenarioOutcome {
    ScenarioOutcome {
        name: scenario.name.clone(),
        file: scenario.file.clone(),
        target: scenario.target.clone(),
        why: scenario.why.clone(),
        seed: opts.seed,
        status: Status::Passed,
        error: None,
        steps: Vec::new(),
        checks: Vec::new(),
        edges: BTreeMap::new(),
        edge_offsets_ms: BTreeMap::new(),
        faults: Vec::new(),
        checks_ms: 0.0,
        stack_seconds: 0.0,
        run_seconds: 0.0,
        teardown_seconds: 0.0,
        repro: format!("{} --scenario {} --seed {}", opts.repro_prefix, scenario.name, opts.seed),
        stack: Default::default(),
        edge_bytes_before_steps: BTreeMap::new(),
    }
}

/// The scenario's stack (its target and what that depends on), started in its levels.
async fn start_stack(
    scenario: &Scenario,
    config: &Config,
    opts: &RunOptions,
    checkpoint: bool,
) -> Result<Stack, StackError> {
    Stack::start(config, &scenario.levels, opts, &Start::checkpointed(checkpoint)).await
}

/// What crossed every edge and ingress, with where each edge's clock starts.
fn observe_edges(stack: &Stack, out: &mut ScenarioOutcome, now: f64) {
    let mut observe = |name: String, o: crate::fault::Observations| {
        out.edge_offsets_ms.insert(name.clone(), now - o.elapsed_ms);
        out.edges.insert(name, o);
    };
    for ((from, to), p) in stack.edges() {
        observe(format!("{from} -> {to}"), p.observations());
    }
    for s in stack.services() {
        if let Ok(p) = stack.ingress(s) {
            observe(format!("host -> {s}"), p.observations());
        }
    }
}

/// Keeps the stack for the caller, hands its removal to the background, or removes it now.
async fn finish(stack: Stack, opts: &RunOptions, mut out: ScenarioOutcome) -> (ScenarioOutcome, Option<Stack>) {
    if opts.keep {
        return (out, Some(stack));
    }
    if let Some(teardowns) = &opts.teardowns {
        let task = tokio::spawn(async move {
            let t = Instant::now();
            stack.shutdown().await;
            t.elapsed().as_secs_f64()
        });
        teardowns.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        return (out, None);
    }
    let t = Instant::now();
    stack.shutdown().await;
    out.teardown_seconds = t.elapsed().as_secs_f64();
    (out, None)
}

/// A fault's task ended: a fault not carried out is the outcome's error (the first one); a
/// service started again that exited by itself is a failed check (what the service did, not
/// the gate).
fn fault_ended(
    r: Result<Result<(), RunError>, tokio::task::JoinError>,
    out: &mut ScenarioOutcome,
    exited: &mut Vec<CheckOutcome>,
) {
    let problem = match r {
        Ok(Ok(())) => return,
        Ok(Err(RunError::Stack(StackError::Exited { service, code, logs }))) => {
            return exited.push(exited_check(&service, code, &logs));
        }
        Ok(Err(e)) => format!("a fault could not be applied or undone: {e}"),
        Err(e) => format!("the fault timeline failed: {e}"),
    };
    if out.error.is_none() {
        out.set_error(problem);
    }
}

/// The services a fault of `scenario` started again (a `kill` or `stop` ending) that have
/// exited since, by themselves: each a failed check, once (the engine may have seen it exit
/// already, [`fault_ended`]).
async fn exited_after_restart(scenario: &Scenario, stack: &Stack, exited: &mut Vec<CheckOutcome>) {
    for f in &scenario.faults {
        let FaultTarget::Container { service, fault } = &f.target else { continue };
        let check = exited_check(service, None, "");
        if !fault.restarts() || exited.iter().any(|c| c.check == check.check) {
            continue;
        }
        if let Some((code, logs)) = stack.exited(service).await {
            exited.push(exited_check(service, code, &logs));
        }
    }
}

/// The check a service fails when faultline started it again (a `kill` or `stop` fault
/// ending) and it exited by itself before it served: a service that gives up at start-up
/// while a dependency is unreachable does this.
fn exited_check(service: &str, code: Option<i64>, logs: &str) -> CheckOutcome {
    let code = code.map_or("an unknown code".to_owned(), |c| format!("code {c}"));
    let last: Vec<&str> = logs.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    CheckOutcome {
        index: 0,
        line: 0,
        check: format!("`{service}` runs again once started after its fault"),
        passed: false,
        expected: "its process keeps running (it may answer errors until its dependencies are back)".into(),
        observed: format!("it exited by itself with {code}; its last log lines: {}", last.join(" | ")),
        unobserved: false,
    }
}

#[cfg(test)]
mod tests {
    use super::runs_at_once;

    #[test]
    fn a_check_that_acts_runs_alone_in_its_place_and_the_reads_between_run_together() {
        assert_eq!(runs_at_once(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(runs_at_once(&[false, false, false]), vec![std::ops::Range { start: 0, end: 3 }]);
        assert_eq!(runs_at_once(&[true, false, false, true]), [0..1, 1..3, 3..4]);
        assert_eq!(runs_at_once(&[false, true, true, false]), [0..1, 1..2, 2..3, 3..4]);
    }
}
