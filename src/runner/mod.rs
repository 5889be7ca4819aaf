//! The runner: one scenario on a fresh stack (`run`), its workload (`workload`), the checks
//! (`checks`) and the repository's own tests (`nextest`), after the stack and fault stages.
//!
//! Runs one scenario on a fresh stack: the fault timeline and the steps on one clock, every
//! fault undone when the steps end, then the checks. A fresh stack per scenario makes results
//! independent of the order scenarios run in and of what ran before.

mod checks;
pub mod depinfo;
mod error;
pub mod event;
pub mod fault_search;
pub(crate) mod nextest;
pub mod pool;
pub mod supervise;
mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::outcome::{Answered, CommandLog, FaultWindow, ScenarioOutcome, Status, StepOutcome};
use crate::scenario::validate::{CheckKind, Expectation, FaultTarget, RequestStep, Scenario, StepKind, TimedFault};
use crate::stack::{RunOptions, Teardowns};
use crate::stack::{Stack, StackError, Start};
use event::{Event, Reporter};
use workload::Answer;

pub use error::PrepareError;
pub(crate) use error::RunError;
pub use nextest::NextestError;

/// How long a request may take when its step sets no `within`.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
fn stack_services(scenarios: &[&Scenario]) -> Vec<String> {
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
    let t = Instant::now();
    let services = stack_services(scenarios);
    // The tests of `nextest` steps: nextest there, the workspace, every filter selecting
    // something; compiled now so the steps only run them.
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
    let commands = crate::stack::prepare(config, &services, &opts.root, &opts.prepare_env, done).await?;
    let mut built: Vec<&str> = Vec::new();
    for (scenario, filter) in filters {
        if !built.contains(&filter) {
            let env = crate::stack::host::env(&config.policy.prepare_env, &opts.prepare_env);
            nextest::build(&opts.root, filter, &env)
                .await
                .map_err(|error| PrepareError::Tests { scenario: scenario.to_owned(), error })?;
            built.push(filter);
        }
    }
    let build_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let docker = crate::stack::docker::local_client().await?;
    let (_, images_built) = crate::stack::prepare_images(&docker, config, &services, &opts.root).await?;
    opts.prepared = true;
    Ok(Prepared { build_seconds, images_seconds: t.elapsed().as_secs_f64(), images_built, commands })
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
    let host_env = crate::stack::host::env(&config.policy.prepare_env, &opts.prepare_env);
    let session = Arc::new(workload::Session::default());
    let ctx = StepCtx { opts, scratch: scratch.path(), host_env: &host_env, session: session.clone() };
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
            let problem = match r {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => format!("a fault could not be applied or undone: {e}"),
                Err(e) => format!("the fault timeline failed: {e}"),
            };
            if out.error.is_none() {
                out.set_error(problem);
            }
        }
    };
    let forward = async {
        while let Some(change) = changed.recv().await {
            report_fault(events, scenario, change);
        }
    };
    tokio::join!(steps, forward);
    out.faults = fault_windows(scenario, &windows);
    out.checks_ms = ms();
    check_phase(scenario, &*stack.lock().await, &session, &mut out, events).await;
    observe_edges(&*stack.lock().await, &mut out, ms());
    out.judge();
    out.run_seconds = t.elapsed().as_secs_f64();
    match Arc::try_unwrap(stack) {
        Ok(m) => (out, Some(m.into_inner())),
        Err(_) => (out, None),
    }
}

/// Phase 3's checks, then whether anything outside the scenario changed the stack.
async fn check_phase(
    scenario: &Scenario,
    stack: &Stack,
    session: &workload::Session,
    out: &mut ScenarioOutcome,
    events: &dyn Reporter,
) {
    if out.status != Status::Error {
        for (i, check) in scenario.checks.iter().enumerate() {
            let line = scenario.check_lines.get(i).copied().unwrap_or(0);
            let judged = checks::run(stack, i, line, check, session).await;
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

/// A fault of the timeline applied or undone, `at_ms` on the steps' clock.
struct FaultChange {
    index: usize,
    applied: bool,
    at_ms: f64,
}

fn report_fault(events: &dyn Reporter, scenario: &Scenario, change: FaultChange) {
    let Some(f) = scenario.faults.iter().find(|f| f.index == change.index) else { return };
    let fault = fault_name(f);
    events.report(&if change.applied {
        Event::FaultApplied { scenario: &scenario.name, fault: &fault, on: &f.on, what: &f.what, at_ms: change.at_ms }
    } else {
        Event::FaultUndone { scenario: &scenario.name, fault: &fault, on: &f.on, at_ms: change.at_ms }
    });
}

/// (start, end) in ms of each fault, by its index in the file.
type Windows = Arc<std::sync::Mutex<BTreeMap<usize, (f64, f64)>>>;

/// One fault on the timeline: applied at `at` (unless already in place), undone after `for`
/// or when the steps end (`stop`); its window recorded.
async fn fault_on_timeline(
    f: TimedFault,
    stack: Arc<Mutex<Stack>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    clock: Instant,
    timeout: Duration,
    windows: Windows,
    changes: tokio::sync::mpsc::UnboundedSender<FaultChange>,
) -> Result<(), RunError> {
    let ms = || clock.elapsed().as_secs_f64() * 1e3;
    let record = |start: Option<f64>, end: Option<f64>| {
        let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
        let e = w.entry(f.index).or_insert((0.0, 0.0));
        if let Some(s) = start {
            e.0 = s;
        }
        if let Some(x) = end {
            e.1 = x;
        }
    };
    if f.at.is_zero() {
        record(Some(0.0), None);
    } else {
        tokio::select! {
            _ = tokio::time::sleep_until((clock + f.at).into()) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        apply(&stack, &f, timeout).await?;
        let at_ms = ms();
        record(Some(at_ms), None);
        let _ = changes.send(FaultChange { index: f.index, applied: true, at_ms });
    }
    match f.duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        None => {
            let _ = stop.wait_for(|s| *s).await;
        }
    }
    let ended = ms();
    let r = undo(&stack, &f, timeout).await;
    record(None, Some(ended));
    if r.is_ok() {
        let _ = changes.send(FaultChange { index: f.index, applied: false, at_ms: ended });
    }
    r
}

/// The faults as they happened.
fn fault_windows(scenario: &Scenario, windows: &Windows) -> Vec<FaultWindow> {
    let w = windows.lock().unwrap_or_else(|e| e.into_inner());
    scenario
        .faults
        .iter()
        .filter_map(|f| {
            let (start_ms, end_ms) = *w.get(&f.index)?;
            Some(FaultWindow { name: fault_name(f), on: f.on.clone(), what: f.what.clone(), start_ms, end_ms })
        })
        .collect()
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

fn fault_name(f: &TimedFault) -> String {
    format!("faults[{}]", f.index)
}

async fn apply(stack: &Mutex<Stack>, f: &TimedFault, timeout: Duration) -> Result<(), RunError> {
    let mut stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault starts");
    match &f.target {
        FaultTarget::Edge { from, to, fault } => match stack.edge(from, to) {
            Some(p) => Ok(p.add(&fault_name(f), (**fault).clone())?),
            None => Err(RunError::NoEdge { from: from.clone(), to: to.clone() }),
        },
        FaultTarget::Container { service, fault } => Ok(stack.container(service, fault.apply(), timeout).await?),
    }
}

async fn undo(stack: &Mutex<Stack>, f: &TimedFault, timeout: Duration) -> Result<(), RunError> {
    let mut stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault ends");
    match &f.target {
        FaultTarget::Edge { from, to, .. } => {
            if let Some(p) = stack.edge(from, to) {
                p.remove(&fault_name(f));
            }
            Ok(())
        }
        FaultTarget::Container { service, fault } => Ok(stack.container(service, fault.undo(), timeout).await?),
    }
}

/// What steps need besides the stack.
struct StepCtx<'a> {
    opts: &'a RunOptions,
    /// Where `nextest` steps write their JUnit reports.
    scratch: &'a std::path::Path,
    /// The whole environment of host commands (see [`crate::stack::host`]).
    host_env: &'a [(String, String)],
    /// Cookies and captured values, shared by the scenario's requests.
    session: Arc<workload::Session>,
}

/// The environment of a host command of a step: the allowlisted host environment,
/// `FAULTLINE_<SERVICE>_ADDR`/`_URL` of every service, and the step's own `env` with its
/// `{SERVICE.port}`-style placeholders filled.
async fn step_env(stack: &Mutex<Stack>, ctx: &StepCtx<'_>, env: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = ctx.host_env.to_vec();
    let stack = stack.lock().await;
    let addrs: Vec<(String, std::net::SocketAddr)> =
        stack.services().filter_map(|s| Some((s.to_owned(), stack.addr(s).ok()?))).collect();
    all.extend(nextest::stack_env(&addrs));
    all.extend(env.iter().map(|(k, v)| (k.clone(), nextest::fill_addrs(v, &addrs))));
    all
}

/// A `request` step: `repeat` requests, `concurrency` at a time, judged; then the values it
/// captures from the last answer.
async fn request_step(
    stack: &Mutex<Stack>,
    ctx: &StepCtx<'_>,
    index: usize,
    step: &RequestStep,
) -> Result<StepOutcome, RunError> {
    let RequestStep { line, body, headers, repeat, concurrency, expect, capture } = step;
    let addr = stack.lock().await.addr(&line.service)?;
    let timeout = request_timeout(expect);
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let keep = !capture.is_empty();
    let workers = (0..*concurrency).map(|_| {
        let next = next.clone();
        async move {
            let mut answers = Vec::new();
            let mut last = None;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= *repeat {
                    return (answers, last);
                }
                let req = workload::instance(line, headers, body.as_ref(), n, &ctx.session);
                let (a, reply) = workload::send(addr, line, req, timeout, Some(&ctx.session), keep).await;
                answers.push(a);
                last = reply.or(last);
            }
        }
    });
    let mut answers: Vec<Answer> = Vec::new();
    let mut last = None;
    for (a, l) in join_all(workers).await {
        answers.extend(a);
        last = l.or(last);
    }
    let name = format!("{line}{}", if *repeat > 1 { format!(" ×{repeat}") } else { String::new() });
    let mut out = judge(index, name, expect, &answers);
    let mut missing = Vec::new();
    for (var, from) in capture {
        match last.as_ref().and_then(|r| r.capture(from)) {
            Some(v) => ctx.session.set_var(var, v),
            None => missing.push(var.as_str()),
        }
    }
    if !missing.is_empty() {
        out.passed = false;
        out.observed = format!("{}; nothing to capture as {}", out.observed, missing.join(", "));
    }
    Ok(out)
}

async fn run_step(
    stack: &Mutex<Stack>,
    ctx: &StepCtx<'_>,
    index: usize,
    step: &StepKind,
) -> Result<StepOutcome, RunError> {
    match step {
        StepKind::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(StepOutcome {
                index,
                step: format!("sleep {d:?}"),
                passed: true,
                expected: "-".into(),
                observed: "-".into(),
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
        StepKind::Exec { service, cmd, expect_exit, env } => {
            let (code, output) = match service {
                Some(s) => stack.lock().await.exec(s, &cmd.iter().map(String::as_str).collect::<Vec<_>>()).await?,
                None => workload::host_exec(cmd, &step_env(stack, ctx, env).await).await,
            };
            let tail = crate::stack::image::tail(output.trim(), 5);
            Ok(StepOutcome {
                index,
                step: format!(
                    "exec {}{}",
                    service.as_deref().map(|s| format!("in {s}: ")).unwrap_or_default(),
                    cmd.join(" ")
                ),
                passed: code == *expect_exit,
                expected: format!("exit code {expect_exit}"),
                observed: format!(
                    "exit code {code}{}",
                    if tail.is_empty() { String::new() } else { format!(": {tail}") }
                ),
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
        StepKind::Request(r) => request_step(stack, ctx, index, r).await,
        StepKind::Load { line, body, headers, rate, duration, expect } => {
            let addr = stack.lock().await.addr(&line.service)?;
            let run = workload::load(
                addr,
                line,
                headers,
                body.as_ref(),
                *rate,
                *duration,
                request_timeout(expect),
                &ctx.session,
            )
            .await;
            let name = format!("load {line} at {rate}/s for {}", humantime::format_duration(*duration));
            let mut out = judge(index, name, expect, &run.answers);
            out.observed = format!("{} sent at {:.1}/s; {}", run.answers.len(), run.achieved_rate, out.observed);
            Ok(out)
        }
        StepKind::Nextest { filter, env } => {
            let all_env = step_env(stack, ctx, env).await;
            if !ctx.opts.prepared {
                nextest::build(&ctx.opts.root, filter, ctx.host_env).await?;
            }
            let junit = ctx.scratch.join(format!("step-{index}")).join("junit.xml");
            let cases = nextest::run(&ctx.opts.root, filter, &all_env, &junit).await?;
            let failed: Vec<String> =
                cases.iter().filter_map(|c| Some(format!("{}: {}", c.name, c.failure.as_deref()?))).collect();
            let passed = cases.len() - failed.len();
            let mut observed = format!("{passed} passed, {} failed", failed.len());
            for f in failed.iter().take(5) {
                observed.push_str(&format!("; {f}"));
            }
            if failed.len() > 5 {
                observed.push_str(&format!("; and {} more", failed.len() - 5));
            }
            // What the first failed tests said, past the panic's first line: the assertion's
            // left and right, the test's own output.
            for c in cases.iter().filter(|c| c.failure.is_some() && !c.output.is_empty()).take(3) {
                observed.push_str(&format!("\n\n--- {} ---\n{}", c.name, c.output));
            }
            Ok(StepOutcome {
                index,
                step: format!("nextest -E '{filter}'"),
                passed: failed.is_empty(),
                expected: format!("every test of `{filter}` passes ({} tests)", cases.len()),
                observed,
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
    }
}

/// How long one request may take before it counts as unanswered.
fn request_timeout(e: &Expectation) -> Duration {
    let bound = e.percentiles.iter().map(|(_, d)| *d).chain(e.within).max();
    bound.map_or(DEFAULT_REQUEST_TIMEOUT, |w| (w * 2).max(Duration::from_secs(1)))
}

/// Expected vs observed for a step of HTTP requests.
fn judge(index: usize, step: String, e: &Expectation, answers: &[Answer]) -> StepOutcome {
    let ok_status = |s: u16| e.status.as_ref().map_or(s < 500, |list| list.contains(&s));
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        *by_status.entry(a.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    let slowest = latencies.last().copied().unwrap_or_default();
    let failed = answers.iter().filter(|a| !a.status.is_some_and(ok_status)).count();
    let rate = if answers.is_empty() { 0.0 } else { failed as f64 / answers.len() as f64 };
    let too_slow = e.within.map_or(0, |w| answers.iter().filter(|a| a.latency > w).count());
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    let mut expected = match &e.status {
        Some(list) => format!("status in {list:?}"),
        None => "status below 500".to_owned(),
    };
    if e.error_rate > 0.0 {
        expected.push_str(&format!(" for at least {}% of requests", fmt_pct(1.0 - e.error_rate)));
    }
    if let Some(w) = e.within {
        expected.push_str(&format!(", each within {}", humantime::format_duration(w)));
    }
    let mut passed = !answers.is_empty() && rate <= e.error_rate && too_slow == 0;
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n}× {s}")).collect();
    let mut observed = format!("{} (slowest {})", statuses.join(", "), ms(slowest));
    if e.error_rate > 0.0 {
        observed.push_str(&format!(", {}% failed", fmt_pct(rate)));
    }
    for (p, bound) in &e.percentiles {
        let got = crate::fault::observe::nearest_rank(&latencies, f64::from(*p)).unwrap_or_default();
        expected.push_str(&format!(", p{p} ≤ {}", humantime::format_duration(*bound)));
        observed.push_str(&format!(", p{p} {}", ms(got)));
        passed &= got <= *bound;
    }
    if let Some(err) = answers.iter().find_map(|a| a.error.as_ref()) {
        observed.push_str(&format!("; first error: {err}"));
    }
    let answered = graded(e, answers);
    StepOutcome { index, step, passed, expected, observed, start_ms: 0.0, end_ms: 0.0, answered }
}

/// The step's answers by grade (see [`Answered`]).
fn graded(e: &Expectation, answers: &[Answer]) -> Answered {
    let mut g = Answered::default();
    for a in answers {
        match a.status {
            None => g.none += 1,
            Some(_) if e.within.is_some_and(|w| a.latency > w) => g.late += 1,
            Some(s) if s >= 500 => g.failed += 1,
            Some(s) if s >= 400 => g.rejected += 1,
            Some(_) => g.ok += 1,
        }
    }
    g
}

fn fmt_pct(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 { format!("{p:.0}") } else { format!("{p:.1}") }
}
