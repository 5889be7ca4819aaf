//! Runs one scenario on a fresh stack: the fault timeline and the steps on one clock, every
//! fault undone when the steps end, then the checks. A fresh stack per scenario makes results
//! independent of the order scenarios run in and of what ran before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Mutex;

use super::checks;
use super::model::ContainerFault;
use super::validate::{FaultTarget, Scenario, StepKind, TimedFault};
use super::workload::{self, Answer};
use crate::config::Config;
use crate::impact::ServiceGraph;
use crate::stack::{Stack, StackOptions};
use crate::verdict::{ScenarioOutcome, Status, StepOutcome};

/// How long a request may take when its step sets no `within`.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// Where `build:` contexts are.
    pub root: std::path::PathBuf,
    /// Leave the stack running after the checks (until the caller drops it).
    pub keep: bool,
    pub ready_timeout: Duration,
    /// How to run the scenario again, without `--scenario` and `--seed` (they are added).
    pub repro_prefix: String,
    /// Extra environment of `prepare` commands.
    pub prepare_env: Vec<(String, String)>,
    /// `prepare` commands already ran for `root` (see [`prepare_once`]).
    pub prepared: bool,
    /// Start one service at a time instead of a level at once (for comparison).
    pub sequential_start: bool,
}

/// Runs the `prepare` commands of every service the scenarios start, once, so each
/// scenario's stack can skip them.
pub async fn prepare_once(scenarios: &[&Scenario], config: &Config, opts: &mut RunOptions) -> Result<(), String> {
    let mut services: Vec<String> = Vec::new();
    for s in scenarios {
        for svc in &s.stack {
            if !services.contains(svc) {
                services.push(svc.clone());
            }
        }
    }
    crate::stack::prepare(config, &services, &opts.root, &opts.prepare_env).await.map_err(|e| e.to_string())?;
    opts.prepared = true;
    Ok(())
}

/// Runs `scenario`; a stack is returned too when `keep` is set.
pub async fn run(scenario: &Scenario, config: &Config, opts: &RunOptions) -> (ScenarioOutcome, Option<Stack>) {
    let mut out = ScenarioOutcome {
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
        stack_seconds: 0.0,
        run_seconds: 0.0,
        repro: format!("{} --scenario {} --seed {}", opts.repro_prefix, scenario.name, opts.seed),
    };
    let graph = ServiceGraph::new(config);
    let mut marked = vec![false; graph.len()];
    for s in &scenario.stack {
        if let Some(i) = graph.index(s) {
            marked[i] = true;
        }
    }
    let levels = graph.start_levels(&marked);
    let mut sopts = StackOptions::new(&opts.root, opts.seed);
    sopts.ready_timeout = opts.ready_timeout;
    sopts.prepare_env = opts.prepare_env.clone();
    sopts.prepared = opts.prepared;
    sopts.sequential = opts.sequential_start;
    let t = Instant::now();
    let stack = match Stack::start(config, &levels, &sopts).await {
        Ok(s) => s,
        Err(e) => {
            out.status = Status::Error;
            out.error = Some(format!("the stack did not come up: {e}"));
            return (out, None);
        }
    };
    out.stack_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let stack = Arc::new(Mutex::new(stack));

    // The timeline: each fault starts at `at` and is undone after `for` or when the steps end.
    // Faults due at once are in place before the first step.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut early_error = None;
    for f in scenario.faults.iter().filter(|f| f.at.is_zero()) {
        if let Err(e) = apply(&stack, f).await {
            early_error = Some(e);
            break;
        }
    }
    let clock = Instant::now();
    let timeline: Vec<_> = scenario
        .faults
        .iter()
        .cloned()
        .map(|f| {
            let stack = stack.clone();
            let mut stop = stop_rx.clone();
            let timeout = opts.ready_timeout;
            tokio::spawn(async move {
                if !f.at.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep_until((clock + f.at).into()) => {}
                        _ = stop.wait_for(|s| *s) => return Ok(()),
                    }
                    apply(&stack, &f).await?;
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
                undo(&stack, &f, timeout).await
            })
        })
        .collect();
    if let Some(e) = early_error {
        out.status = Status::Error;
        out.error = Some(format!("a fault could not be applied: {e}"));
    }

    for (i, step) in scenario.steps.iter().enumerate().filter(|_| out.status != Status::Error) {
        match run_step(&stack, i, step).await {
            Ok(s) => out.steps.push(s),
            Err(e) => {
                out.status = Status::Error;
                out.error = Some(format!("step {}: {e}", i + 1));
                break;
            }
        }
    }
    let _ = stop_tx.send(true);
    for r in join_all(timeline).await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) if out.error.is_none() => {
                out.status = Status::Error;
                out.error = Some(format!("a fault could not be applied or undone: {e}"));
            }
            Ok(Err(_)) => {}
            Err(e) if out.error.is_none() => {
                out.status = Status::Error;
                out.error = Some(format!("the fault timeline failed: {e}"));
            }
            Err(_) => {}
        }
    }

    if out.status != Status::Error {
        let stack = stack.lock().await;
        for (i, check) in scenario.checks.iter().enumerate() {
            out.checks.push(checks::run(&stack, i, scenario.check_lines.get(i).copied().unwrap_or(0), check).await);
        }
    }
    {
        let stack = stack.lock().await;
        for ((from, to), p) in stack.edges() {
            out.edges.insert(format!("{from} -> {to}"), p.observations());
        }
        for s in stack.services().map(str::to_owned).collect::<Vec<_>>() {
            if let Ok(p) = stack.ingress(&s) {
                out.edges.insert(format!("host -> {s}"), p.observations());
            }
        }
    }
    if out.status != Status::Error && (out.steps.iter().any(|s| !s.passed) || out.checks.iter().any(|c| !c.passed)) {
        out.status = Status::Failed;
    }
    out.run_seconds = t.elapsed().as_secs_f64();
    let stack = match Arc::try_unwrap(stack) {
        Ok(m) => m.into_inner(),
        Err(_) => return (out, None),
    };
    if opts.keep {
        (out, Some(stack))
    } else {
        stack.shutdown().await;
        (out, None)
    }
}

fn fault_name(f: &TimedFault) -> String {
    format!("faults[{}]", f.index)
}

async fn apply(stack: &Mutex<Stack>, f: &TimedFault) -> Result<(), String> {
    let stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault starts");
    match &f.target {
        FaultTarget::Edge { from, to, fault } => match stack.edge(from, to) {
            Some(p) => p.add(&fault_name(f), (**fault).clone()).map_err(|e| e.to_string()),
            None => Err(format!("no edge {from} -> {to}")),
        },
        FaultTarget::Container { service, fault } => match fault {
            ContainerFault::Pause => stack.pause(service).await,
            ContainerFault::Kill => stack.kill(service).await,
            ContainerFault::Stop => stack.stop(service).await,
            ContainerFault::Disconnect => stack.disconnect(service).await,
        }
        .map_err(|e| e.to_string()),
    }
}

async fn undo(stack: &Mutex<Stack>, f: &TimedFault, timeout: Duration) -> Result<(), String> {
    let mut stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault ends");
    match &f.target {
        FaultTarget::Edge { from, to, .. } => {
            if let Some(p) = stack.edge(from, to) {
                p.remove(&fault_name(f));
            }
            Ok(())
        }
        FaultTarget::Container { service, fault } => match fault {
            ContainerFault::Pause => stack.unpause(service).await,
            ContainerFault::Kill | ContainerFault::Stop => stack.start_service(service, timeout).await,
            ContainerFault::Disconnect => stack.reconnect(service, timeout).await,
        }
        .map_err(|e| e.to_string()),
    }
}

async fn run_step(stack: &Mutex<Stack>, index: usize, step: &StepKind) -> Result<StepOutcome, String> {
    match step {
        StepKind::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(StepOutcome {
                index,
                step: format!("sleep {d:?}"),
                passed: true,
                expected: "-".into(),
                observed: "-".into(),
            })
        }
        StepKind::Exec { service, cmd, expect_exit } => {
            let (code, output) = match service {
                Some(s) => stack
                    .lock()
                    .await
                    .exec(s, &cmd.iter().map(String::as_str).collect::<Vec<_>>())
                    .await
                    .map_err(|e| e.to_string())?,
                None => workload::host_exec(cmd).await,
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
            })
        }
        StepKind::Request { line, body, headers, repeat, concurrency, status, within } => {
            let addr = stack.lock().await.addr(&line.service).map_err(|e| e.to_string())?;
            let timeout = within.map_or(DEFAULT_REQUEST_TIMEOUT, |w| (w * 2).max(Duration::from_secs(1)));
            let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let workers = (0..*concurrency).map(|_| {
                let next = next.clone();
                async move {
                    let mut answers = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= *repeat {
                            return answers;
                        }
                        let hs: Vec<(String, String)> =
                            headers.iter().map(|(k, v)| (k.clone(), v.replace("{n}", &n.to_string()))).collect();
                        let b = body.as_ref().map(|b| workload::with_n(b, n).to_string());
                        answers.push(workload::send(addr, line, &hs, b, timeout).await);
                    }
                }
            });
            let answers: Vec<Answer> = join_all(workers).await.into_iter().flatten().collect();
            Ok(judge(index, line, status.as_deref(), *within, &answers, *repeat))
        }
    }
}

/// Expected vs observed for a request step.
fn judge(
    index: usize,
    line: &super::validate::RequestLine,
    status: Option<&[u16]>,
    within: Option<Duration>,
    answers: &[Answer],
    repeat: u32,
) -> StepOutcome {
    let ok_status = |s: u16| status.map_or(s < 500, |list| list.contains(&s));
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        *by_status.entry(a.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())).or_default() += 1;
    }
    let slowest = answers.iter().map(|a| a.latency).max().unwrap_or_default();
    let bad_status = answers.iter().filter(|a| !a.status.is_some_and(ok_status)).count();
    let too_slow = within.map_or(0, |w| answers.iter().filter(|a| a.latency > w).count());
    let mut expected = match status {
        Some(list) => format!("status in {list:?}"),
        None => "status below 500".to_owned(),
    };
    if let Some(w) = within {
        expected.push_str(&format!(", each within {}", humantime::format_duration(w)));
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n}× {s}")).collect();
    let mut observed = format!("{} (slowest {:.0} ms)", statuses.join(", "), slowest.as_secs_f64() * 1e3);
    if let Some(e) = answers.iter().find_map(|a| a.error.clone()) {
        observed.push_str(&format!("; first error: {e}"));
    }
    StepOutcome {
        index,
        step: format!("{line}{}", if repeat > 1 { format!(" ×{repeat}") } else { String::new() }),
        passed: bad_status == 0 && too_slow == 0,
        expected,
        observed,
    }
}
