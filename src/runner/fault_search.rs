//! Exploration: the runner searches the fault space of one service itself, with the
//! experiments [`crate::scenario::experiments`] generates, on stacks shared and reset between
//! them ([`super::pool`]).
//!
//! 1. The reference: the service's workload with no fault. It must pass (else exploration
//!    cannot judge anything: could not verify), and it shows which edges the workload uses
//!    and how many requests each edge carries per workload request.
//! 2. The experiments, for the edges that carried traffic only, the changed services' edges
//!    first, in waves: every fault one request at a time (and the outages and restarts),
//!    then 4 at once for the faults that passed one at a time (a fault that already failed
//!    is a finding; its concurrent twin would repeat it).
//! 3. Besides each experiment's own checks, the attempts oracle on every run of one request
//!    at a time: the requests an edge carries during one workload request are its attempts,
//!    at most `explore.max_attempts` times what the reference needed.
//! 4. A budget: experiments not started when it runs out are listed as unexplored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::event::{Event, Reporter};
use super::pool::StackPool;
use crate::config::LoadedConfig;
use crate::outcome::{CheckOutcome, Compared, Differential, ExperimentResult, ExploreReport, ScenarioOutcome, Status};
use crate::plan::ExploreTarget;
use crate::scenario::experiments::{Experiment, Mode, UsedEdge, Workload};
use crate::stack::RunOptions;

/// How to explore.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// Experiments are not started after this long.
    pub budget: Duration,
    /// Experiments at once.
    pub jobs: usize,
    /// The changed services: their edges are explored first.
    pub first: Vec<String>,
    /// Start no experiment once one has failed (the gate: one failure blocks, the rest
    /// would only add findings); `faultline explore` runs them all.
    pub stop_at_first_failure: bool,
    /// How to run the base revision's build (prepared already): every experiment runs there
    /// too, under the same fault and seed, and is compared with the change's
    /// ([`crate::outcome::differential`]). `None`: the absolute oracles alone judge.
    pub base: Option<RunOptions>,
}

/// Explores `target.service` with its workload and `loaded`'s invariants; `opts` as for scenarios
/// (`prepare_once` already ran for the services).
pub async fn explore(
    loaded: &LoadedConfig,
    target: &ExploreTarget,
    opts: &RunOptions,
    xo: &ExploreOptions,
    events: &dyn Reporter,
) -> ExploreReport {
    let start = Instant::now();
    let service = target.service.as_str();
    let mut report = ExploreReport { service: service.to_owned(), seed: opts.seed, ..Default::default() };
    let config = &loaded.config;
    let (w, reference) = match &target.ready {
        Ok(ready) => ready,
        Err(e) => {
            report.error = Some(e.located());
            return report;
        }
    };
    // The reference's stack serves the experiments after it.
    let pool = StackPool::new([&reference.scenario, &reference.scenario]).at_once(xo.jobs);
    events.report(&Event::ReferenceStarted { service });
    let base = pool.run(&reference.scenario, config, opts).await;
    if base.status != Status::Passed {
        let why = base
            .first_failure()
            .map(|(what, expected, observed)| format!("{what}: expected {expected}, observed {observed}"))
            .or(base.error.clone())
            .unwrap_or_default();
        report.error = Some(format!("the workload of `{service}` does not pass without any fault: {why}"));
        pool.finish().await;
        return report;
    }
    let used = used_edges(&base);
    report.edges = used.iter().map(|e| format!("{} -> {}", e.from, e.to)).collect();
    let per_request = attempts_per_request(&base, &w.service);
    let reference_ms: f64 = base.steps.iter().map(|s| s.end_ms - s.start_ms).sum();
    let experiments = match crate::scenario::experiments::catalogue(
        w,
        config,
        &used,
        &reference.scenario.stack,
        &xo.first,
        reference_ms,
    ) {
        Ok(e) => e,
        Err(e) => {
            report.error = Some(e.to_string());
            pool.finish().await;
            return report;
        }
    };
    report.planned = experiments.len();
    pool.expect(experiments.iter().map(|e| &e.scenario));
    pool.forget(&reference.scenario);
    events.report(&Event::ExperimentsPlanned { service, experiments: experiments.len(), edges: &report.edges });

    let (first, second): (Vec<&Experiment>, Vec<&Experiment>) =
        experiments.iter().partition(|e| e.mode != Mode::Concurrent);
    let found = std::sync::atomic::AtomicBool::new(false);
    // The base's experiments on stacks of their own: its images differ from the change's.
    let base_pool =
        xo.base.as_ref().map(|b| (StackPool::new(experiments.iter().map(|e| &e.scenario)).at_once(xo.jobs), b));
    let ctx = Wave {
        pool: &pool,
        base: base_pool.as_ref().map(|(p, o)| (p, *o)),
        w,
        per_request: &per_request,
        loaded,
        opts,
        xo,
        start,
        events,
        found: &found,
    };
    let mut results: BTreeMap<String, (&Experiment, Option<Ran>)> = BTreeMap::new();
    for (e, o) in ctx.run(first).await {
        results.insert(e.name.clone(), (e, o));
    }
    let mut wave = Vec::new();
    for e in second {
        let twin = e.name.replace("-conc", "-seq");
        match results.get(&twin).and_then(|(_, o)| o.as_ref()) {
            // A weakness the base shares does not stand for its concurrent twin, which may
            // still be worse than the base.
            Some((o, c))
                if o.status == Status::Failed
                    && !c.as_ref().is_some_and(|c| c.verdict == Differential::KnownWeakness) =>
            {
                pool.forget(&e.scenario);
                if let Some((p, _)) = &base_pool {
                    p.forget(&e.scenario);
                }
                report.skipped.push((e.name.clone(), format!("{twin} failed already: the same fault, one finding")));
            }
            _ => wave.push(e),
        }
    }
    for (e, o) in ctx.run(wave).await {
        results.insert(e.name.clone(), (e, o));
    }
    record(&mut report, &experiments, results);
    pool.finish().await;
    if let Some((p, _)) = &base_pool {
        p.finish().await;
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// The experiments' results into the report, in the order they were generated.
fn record(
    report: &mut ExploreReport,
    experiments: &[Experiment],
    mut results: BTreeMap<String, (&Experiment, Option<Ran>)>,
) {
    for e in experiments {
        match results.remove(&e.name) {
            Some((_, Some((outcome, compared)))) => {
                let scenario = (outcome.status == Status::Failed).then(|| e.text.clone());
                report.ran.push(ExperimentResult {
                    class: e.class.clone(),
                    on: e.on.clone(),
                    mode: e.mode,
                    outcome,
                    scenario,
                    compared,
                });
            }
            Some((_, None)) => report.unexplored.push(e.name.clone()),
            None => {}
        }
    }
}

/// What a wave of experiments needs.
struct Wave<'a> {
    pool: &'a StackPool,
    /// The base's pool and how to run the base, when experiments are compared with it.
    base: Option<(&'a StackPool, &'a RunOptions)>,
    w: &'a Workload,
    per_request: &'a BTreeMap<String, (usize, String)>,
    loaded: &'a LoadedConfig,
    opts: &'a RunOptions,
    xo: &'a ExploreOptions,
    start: Instant,
    events: &'a dyn Reporter,
    /// An experiment failed (see [`ExploreOptions::stop_at_first_failure`]).
    found: &'a std::sync::atomic::AtomicBool,
}

/// An experiment's outcome on the change, and its comparison with the base.
type Ran = (ScenarioOutcome, Option<Compared>);

impl Wave<'_> {
    /// Runs `wave`, `jobs` at once; an experiment not started within the budget is `None`.
    async fn run<'e>(&self, wave: Vec<&'e Experiment>) -> Vec<(&'e Experiment, Option<Ran>)> {
        futures_util::stream::iter(wave.into_iter().map(|e| async move {
            let stop = self.xo.stop_at_first_failure && self.found.load(std::sync::atomic::Ordering::SeqCst);
            if stop || self.start.elapsed() >= self.xo.budget {
                self.pool.forget(&e.scenario);
                if let Some((base, _)) = self.base {
                    base.forget(&e.scenario);
                }
                return (e, None);
            }
            let (o, compared) = self.run_one(e).await;
            let weakness = compared.as_ref().is_some_and(|c| c.verdict == Differential::KnownWeakness);
            if o.status != Status::Passed && !weakness {
                self.found.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            self.events.report(&Event::ExperimentFinished { service: &self.w.service, outcome: &o });
            (e, Some((o, compared)))
        }))
        .buffer_unordered(self.pool.in_flight())
        .collect()
        .await
    }

    /// One experiment on one side, with the attempts oracle.
    async fn side(&self, e: &Experiment, pool: &StackPool, opts: &RunOptions) -> ScenarioOutcome {
        let mut o = pool.run_reporting(&e.scenario, &self.loaded.config, opts, self.events).await;
        if e.mode != Mode::Concurrent && o.status != Status::Error {
            attempts_oracle(&mut o, self.w, self.per_request);
        }
        o
    }

    /// One experiment on the change, and on the base when there is one: a worse outcome
    /// seen once is run again on both sides, and counts only when it is seen again; it then
    /// fails the change's outcome with a check that says what is worse.
    async fn run_one(&self, e: &Experiment) -> Ran {
        let mut head = self.side(e, self.pool, self.opts).await;
        let Some((pool, base_opts)) = self.base else { return (head, None) };
        let mut base = self.side(e, pool, base_opts).await;
        let (mut verdict, mut differences) = crate::outcome::differential::compare(&head, &base);
        let mut pairs = 1;
        if verdict == Differential::Worse && self.start.elapsed() < self.xo.budget {
            pool.expect([&e.scenario]);
            self.pool.expect([&e.scenario]);
            let again = self.side(e, self.pool, self.opts).await;
            let base_again = self.side(e, pool, base_opts).await;
            let (v, d) = crate::outcome::differential::compare(&again, &base_again);
            pairs = 2;
            if v == Differential::Worse {
                differences.push("seen again in a second pair of runs".into());
            } else {
                (verdict, differences, head, base) = (v, d, again, base_again);
            }
        }
        if verdict == Differential::Worse {
            head.checks.push(CheckOutcome {
                index: head.checks.len(),
                line: 0,
                check: "as good as the base revision under the same fault".into(),
                passed: false,
                expected: "no request answered worse, no check violated that holds on the base".into(),
                observed: differences.join("; "),
                unobserved: false,
            });
            head.judge();
        }
        (head, Some(Compared { base, verdict, differences, pairs }))
    }
}

/// The edges the workload used: HTTP requests or bytes crossed them during the steps.
pub(crate) fn used_edges(o: &ScenarioOutcome) -> Vec<UsedEdge> {
    let mut out = Vec::new();
    for (name, obs) in &o.edges {
        if name.starts_with("host -> ") {
            continue;
        }
        let Some((from, to)) = name.split_once(" -> ") else { continue };
        let offset = o.edge_offsets_ms.get(name).copied().unwrap_or(0.0);
        let requests = obs.requests.iter().filter(|r| r.start_ms + offset >= 0.0).count();
        let before = o.edge_bytes_before_steps.get(name).copied().unwrap_or(0);
        let bytes = (obs.bytes_upstream + obs.bytes_downstream).saturating_sub(before);
        if requests > 0 || bytes > 0 {
            out.push(UsedEdge { from: from.to_owned(), to: to.to_owned(), http: !obs.requests.is_empty() });
        }
    }
    out
}

/// Per HTTP edge: the most requests it carried during one request of the workload to
/// `service` (from when it arrived until the next one did).
pub(crate) fn attempts_per_request(o: &ScenarioOutcome, service: &str) -> BTreeMap<String, (usize, String)> {
    let ingress = format!("host -> {service}");
    let Some(host) = o.edges.get(&ingress) else { return BTreeMap::new() };
    let host_offset = o.edge_offsets_ms.get(&ingress).copied().unwrap_or(0.0);
    let mut starts: Vec<(f64, String)> = host
        .requests
        .iter()
        .map(|r| (r.start_ms + host_offset, format!("{} {}", r.method, r.path)))
        .filter(|(t, _)| *t >= 0.0)
        .collect();
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = BTreeMap::new();
    if starts.is_empty() {
        return out;
    }
    for (name, obs) in &o.edges {
        if name.starts_with("host -> ") || obs.requests.is_empty() {
            continue;
        }
        let offset = o.edge_offsets_ms.get(name).copied().unwrap_or(0.0);
        let mut counts = vec![0usize; starts.len()];
        for r in &obs.requests {
            let t = r.start_ms + offset;
            // The workload request it belongs to: the last one that arrived before it.
            let i = starts.partition_point(|(s, _)| *s <= t);
            if i > 0 {
                counts[i - 1] += 1;
            }
        }
        if let Some((i, n)) = counts.iter().enumerate().max_by_key(|(_, n)| **n) {
            out.insert(name.clone(), (*n, format!("request {} ({})", i + 1, starts[i].1)));
        }
    }
    out
}

/// Adds the attempts check to an experiment run one request at a time: on every HTTP edge,
/// at most `max_attempts` times the requests the reference needed per workload request.
fn attempts_oracle(o: &mut ScenarioOutcome, w: &Workload, reference: &BTreeMap<String, (usize, String)>) {
    let seen = attempts_per_request(o, &w.service);
    for (edge, (n, which)) in seen {
        let need = reference.get(&edge).map_or(1, |(k, _)| (*k).max(1));
        let bound = need * w.max_attempts as usize;
        let passed = n <= bound;
        o.checks.push(CheckOutcome {
            index: o.checks.len(),
            line: 0,
            check: format!("attempts per workload request on {edge}"),
            passed,
            expected: format!(
                "≤ {bound} ({} attempts × {need} request{} per workload request without faults)",
                w.max_attempts,
                if need == 1 { "" } else { "s" }
            ),
            observed: format!("{n} during {which}"),
            unobserved: false,
        });
    }
    o.judge();
}
