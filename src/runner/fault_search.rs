//! Exploration: the runner searches the fault space of one service itself, with the
//! experiments [`crate::scenario::experiments`] generates, on stacks shared and reset between
//! them ([`super::pool`]).
//!
//! 1. The reference: the service's workload with no fault. It must pass (else exploration
//!    cannot judge anything: could not verify), and it shows which edges the workload uses
//!    and how many requests each edge carries per workload request. When a declared edge of
//!    the stack (a `depends_on` of the service or of any service it depends on, transitively:
//!    every edge the stack proxies) carried no traffic, the workload runs again,
//!    [`REFERENCE_PASSES`] passes in a row on one stack, and each edge found there is explored
//!    with as many passes as it took to carry traffic (a dependency called every 3rd
//!    request is faulted during 3 passes).
//! 2. The experiments, for the edges that carried traffic only, the changed services' edges
//!    first, in waves: every fault one request at a time (and the outages and restarts),
//!    then the saturations and 4 at once for the faults that passed one at a time, and the
//!    other flavours of a transient failure whose first flavour passed, and the sustained
//!    outages whose short outage passed (a fault that already failed is a finding; its
//!    concurrent twin, the saturation of a slow dependency that failed one at a time, the same
//!    outage held longer, or another flavour of the same failure, would repeat it). A
//!    sustained outage the budget left cannot hold is skipped with why.
//! 3. The fallbacks: a declared edge still without traffic that carried some during an
//!    experiment's steps (orders -> cache while payments is down) is explored with that
//!    experiment's fault on at the same time, each fault class of the catalogue once, in the
//!    trigger's mode. A declared edge that carried none in any of these runs is listed as not
//!    exercised ([`ExploreReport::not_exercised`]): the verdict warns, or could not verify
//!    where the rule's `unexercised` says `unverified`.
//!    Then two faults at once ([`pairs`]): the single faults on an edge that each changed what
//!    the service did (its answers or its traffic, against the reference) and passed alone,
//!    paired across two edges, at most [`pairs::MAX_PAIRS`], the rest listed as skipped.
//! 4. Besides each experiment's own checks, the attempts oracle on every run of one request
//!    at a time: the requests an edge carries during one workload request are its attempts,
//!    at most `explore.max_attempts` times what the reference needed.
//! 5. A budget: experiments not started when it runs out are listed as unexplored. Those on
//!    the edges of the changed services ([`ExploreOptions::first`]) run first, both waves,
//!    before any other; the ones of them left unrun are listed apart
//!    ([`ExploreReport::unexplored_touched`]: could not verify unless the rule's
//!    `partial_exploration` is `allow`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::event::{Event, Reporter};
use super::pool::StackPool;
use crate::config::LoadedConfig;
use crate::outcome::family;
use crate::outcome::{
    Answered, CheckOutcome, Compared, Differential, ExperimentResult, ExploreReport, ExploreShare, NotExercised,
    OutageSeen, ScenarioOutcome, Split, Status,
};
use crate::plan::ExploreTarget;
use crate::scenario::experiments::{Experiment, FirstUse, Mode, UsedEdge, Workload};

mod deadlines;
mod pairs;
use crate::stack::RunOptions;
use pairs::{Did, pairs};

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
    /// IDs of differences accepted (the verdict decides whether each
    /// acceptance counts): a failure by one of them does not stop the exploration.
    pub accepted: Vec<String>,
    /// Every experiment on a stack of its own, started for it and removed after it (the
    /// benchmark's one-by-one baseline, and the gate's `--fresh-stacks`).
    pub fresh_stacks: bool,
    /// This shard's part of the experiments (`gate --partition K/N`): the catalogue is split by
    /// experiment, twins together ([`crate::outcome::Partition::holds_experiment`]); a service
    /// that needs fallbacks is explored whole by the shard that holds its name.
    pub partition: Option<crate::outcome::Partition>,
    /// Recorded base results ([`super::base_results`]): read under the base's tree, and
    /// written under the head's when this run records them.
    pub base_results: Option<super::base_results::BaseResults>,
}

/// Passes of the workload the reference runs, at most, for the declared edges one pass
/// leaves without traffic: the first pass and 3 more. A dependency called every 2nd, 3rd or
/// 4th request, or after a warm-up of up to 3 passes, is found; one called more rarely is
/// listed as not exercised ([`ExploreReport::not_exercised`]), never passed over in silence.
/// The passes run in one scenario on one stack (a reset between runs would restart the
/// service's counters and caches), one request at a time, within seconds for the usual
/// workload of a few requests, before any experiment starts.
pub const REFERENCE_PASSES: u32 = 4;

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
    // The reference's stack serves the experiments after it; it stays expected until the
    // fallbacks' experiments are known (the last ones that use it).
    let pool = StackPool::new([&reference.scenario, &reference.scenario]).at_once(xo.jobs);
    events.report(&Event::ReferenceStarted { service });
    let observed = match references(&pool, w, reference, loaded, opts, events).await {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(e.to_string());
            pool.finish().await;
            return report;
        }
    };
    let Observed { declared, used, per_request, reference_ms, passes, answered } = observed;
    report.reference_passes = passes;
    report.edges = used.iter().map(UsedEdge::name).collect();
    let stack = &reference.scenario.stack;
    let experiments = match crate::scenario::experiments::catalogue(w, config, &used, stack, &xo.first, reference_ms) {
        Ok(e) => e,
        Err(e) => {
            report.error = Some(e.to_string());
            pool.finish().await;
            return report;
        }
    };
    report.planned = experiments.len();
    let unused: Vec<(String, String)> =
        declared.iter().filter(|d| !used.iter().any(|u| (&u.from, &u.to) == (&d.0, &d.1))).cloned().collect();
    let mut experiments = experiments;
    if let Some(p) = xo.partition {
        match own_share(&mut report, p, experiments, &unused) {
            Some(mine) => experiments = mine,
            None => {
                // Another shard explores it whole: this one has nothing to add.
                pool.finish().await;
                report.seconds = start.elapsed().as_secs_f64();
                return report;
            }
        }
    }
    pool.expect(experiments.iter().map(|e| &e.scenario));
    events.report(&Event::ExperimentsPlanned { service, experiments: experiments.len(), edges: &report.edges });

    let found = std::sync::atomic::AtomicBool::new(false);
    // The base's experiments on stacks of their own: its images differ from the change's.
    let base_pool = xo.base.as_ref().map(|b| {
        let expected = experiments.iter().map(|e| &e.scenario).chain([&reference.scenario]);
        (StackPool::new(expected).at_once(xo.jobs), b)
    });
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
        cut: std::sync::Mutex::default(),
    };
    let mut results: Results = BTreeMap::new();
    // The experiments on what the change touched run first, both waves, so a budget too small
    // for the catalogue leaves the others unrun.
    let (touched, rest): (Vec<&Experiment>, Vec<&Experiment>) = experiments.iter().partition(|e| touches(e, &xo.first));
    ctx.waves(&touched, &mut results, &mut report.skipped).await;
    ctx.waves(&rest, &mut results, &mut report.skipped).await;
    let did = Did { answered: &answered, used: &used, per_request: &per_request };
    let FollowUps { fallback, covered, magnitudes, left_out, pairs, not_run } =
        follow_ups(w, config, &unused, &experiments, &results, &did, &mut report);
    pool.forget(&reference.scenario);
    if let Some((p, _)) = &base_pool {
        p.forget(&reference.scenario);
    }
    let edges: Vec<String> = covered.iter().map(|(e, with)| format!("{} (while {with})", e.name())).collect();
    report.edges.extend(edges.iter().cloned());
    ctx.round(&fallback, &edges, &mut results, &mut report).await;
    // The magnitudes of each client's own deadline, before the pairs: single faults on the
    // edges explored come before their combinations.
    let mut edges: Vec<String> = magnitudes.iter().map(|e| e.on.clone()).collect();
    edges.dedup();
    ctx.round(&magnitudes, &edges, &mut results, &mut report).await;
    report.skipped.extend(left_out);
    let edges: Vec<String> =
        pairs.iter().map(|e| format!("{} (while {})", e.on, e.with.as_deref().unwrap_or(""))).collect();
    ctx.round(&pairs, &edges, &mut results, &mut report).await;
    report.skipped.extend(not_run);
    ctx.families(experiments.iter().chain(&fallback).chain(&pairs), &mut results).await;
    let ran = results.values().filter(|(_, o)| o.is_some()).count();
    record(&mut report, &experiments, &mut results, &xo.first);
    record(&mut report, &fallback, &mut results, &xo.first);
    record(&mut report, &magnitudes, &mut results, &xo.first);
    record(&mut report, &pairs, &mut results, &xo.first);
    report.not_exercised = not_exercised(&unused, &covered, passes, ran);
    report.unexplored_touched.extend(ctx.cut.into_inner().unwrap_or_else(|e| e.into_inner()));
    pool.finish().await;
    if let Some((p, _)) = &base_pool {
        p.finish().await;
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// The experiments planned from the results of the catalogue's.
struct FollowUps {
    /// The fallbacks' experiments ([`fallbacks`]) and the edges they cover.
    fallback: Vec<Experiment>,
    covered: Covered,
    /// The magnitudes of each client's own deadline ([`deadlines`]), and those left out.
    magnitudes: Vec<Experiment>,
    left_out: pairs::Skipped,
    /// Two faults at once ([`pairs`]), and those past the cap.
    pairs: Vec<Experiment>,
    not_run: pairs::Skipped,
}

/// Plans the follow-ups of the catalogue's experiments from their `results`: the fallbacks of
/// the `unused` edges, the magnitudes of each client's deadline (the deadlines go into
/// `report`), the pairs. An experiment that cannot be made is the report's error.
fn follow_ups(
    w: &Workload,
    config: &crate::config::Config,
    unused: &[(String, String)],
    experiments: &[Experiment],
    results: &Results,
    did: &Did,
    report: &mut ExploreReport,
) -> FollowUps {
    let mut error = None;
    let mut keep = |e: crate::scenario::experiments::InvalidExperiment| error = Some(e.to_string());
    // Edges that carried traffic only while another fault was on: explored with that fault.
    let (fallback, covered) = fallbacks(w, config, unused, experiments, results).unwrap_or_else(|e| {
        keep(e);
        Default::default()
    });
    let (found, magnitudes, left_out) = deadlines::plan(w, config, experiments, results, did, report.share.as_ref())
        .unwrap_or_else(|e| {
            keep(e);
            Default::default()
        });
    let (pairs, not_run) = pairs(w, config, experiments, results, did, report.share.as_ref()).unwrap_or_else(|e| {
        keep(e);
        Default::default()
    });
    report.deadlines = found;
    if error.is_some() {
        report.error = error;
    }
    FollowUps { fallback, covered, magnitudes, left_out, pairs, not_run }
}

/// Under `--partition`: the experiments of this shard's share, the split recorded in
/// `report.share` with the whole catalogue; `None` when another shard explores the service
/// whole (its reference left declared edges without traffic: the fallbacks are chosen from
/// every experiment's results, so its experiments cannot be split).
fn own_share(
    report: &mut ExploreReport,
    p: crate::outcome::Partition,
    mut experiments: Vec<Experiment>,
    unused: &[(String, String)],
) -> Option<Vec<Experiment>> {
    let split = if unused.is_empty() {
        Split::Experiments
    } else {
        Split::Whole { shard: crate::outcome::Partition::share_of(&report.service, p.count) }
    };
    let catalogue = experiments.iter().map(|e| e.name.clone()).collect();
    report.share = Some(ExploreShare { partition: p, catalogue, split });
    match split {
        Split::Experiments => experiments.retain(|e| p.holds_experiment(&e.name)),
        Split::Whole { shard } if shard != p.index => experiments.clear(),
        Split::Whole { .. } => {}
    }
    report.planned = experiments.len();
    match split {
        Split::Whole { shard } if shard != p.index => None,
        _ => Some(experiments),
    }
}

/// What the reference passes observed.
struct Observed {
    /// The declared edges of the stack ([`crate::scenario::experiments::declared_edges`]).
    declared: Vec<(String, String)>,
    /// The edges that carried traffic, each with the passes it needed.
    used: Vec<UsedEdge>,
    per_request: BTreeMap<String, (usize, String)>,
    /// How long one pass took.
    reference_ms: f64,
    /// Passes run: 1, or [`REFERENCE_PASSES`].
    passes: u32,
    /// How the first reference's steps were answered, by grade, step by step.
    answered: Vec<Answered>,
}

/// Why the reference could not serve exploration (the report's `error`).
#[derive(Debug, thiserror::Error)]
enum ReferenceError {
    #[error("the workload of `{service}` does not pass without any fault: {why}")]
    Fails { service: String, why: String },
    #[error("the workload of `{service}` does not pass {passes} times in a row without any fault: {why}")]
    FailsAgain { service: String, passes: u32, why: String },
    /// An `agrees:` of the workload that does not hold without any fault: the declaration
    /// is wrong (or the system is wrong everywhere), so nothing under a fault can be judged
    /// by it.
    #[error(
        "{at}: the `agrees` of step {step} of the workload of `{service}` does not hold without any fault, so the declaration cannot judge anything: {why}"
    )]
    Disagrees { at: String, step: usize, service: String, why: String },
    #[error(transparent)]
    Invalid(#[from] crate::scenario::experiments::InvalidExperiment),
}

/// A failed reference because an `agrees:` of the workload did not hold: located at the
/// declaration in faultline.yaml.
fn disagrees(loaded: &LoadedConfig, w: &Workload, o: &ScenarioOutcome) -> Option<ReferenceError> {
    let c = o.checks.iter().find(|c| !c.passed && super::agree::step_of(&c.check).is_some())?;
    let step = super::agree::step_of(&c.check)? % w.steps.len().max(1);
    let path = crate::ypath!["explore", "workloads", w.service.as_str(), step, "agrees"];
    let d = crate::config::FileDiagnostic::at_key(&loaded.source, &path, "");
    Some(ReferenceError::Disagrees {
        at: format!("{}:{}:{}", d.file, d.line, d.column),
        step: step + 1,
        service: w.service.clone(),
        why: format!("{}: expected {}, observed {}", c.check, c.expected, c.observed),
    })
}

/// The reference: the workload once, and when a declared edge of the stack carried no
/// traffic, [`REFERENCE_PASSES`] passes of it in a row on one stack. Either must pass without
/// any fault, else exploration cannot judge anything (the error says why).
async fn references(
    pool: &StackPool,
    w: &Workload,
    reference: &Experiment,
    loaded: &LoadedConfig,
    opts: &RunOptions,
    events: &dyn Reporter,
) -> Result<Observed, ReferenceError> {
    let config = &loaded.config;
    let service = &w.service;
    let base = pool.run(&reference.scenario, config, opts).await;
    if base.status != Status::Passed {
        if let Some(e) = disagrees(loaded, w, &base) {
            return Err(e);
        }
        return Err(ReferenceError::Fails { service: service.clone(), why: why(&base) });
    }
    let declared = crate::scenario::experiments::declared_edges(config, &reference.scenario.stack);
    let mut used = used_edges(&base);
    let mut per_request = attempts_per_request(&base, service);
    let reference_ms: f64 = base.steps.iter().map(|s| s.end_ms - s.start_ms).sum();
    let answered = base.steps.iter().map(|s| s.answered).collect();
    let unused: Vec<String> = declared
        .iter()
        .filter(|d| !used.iter().any(|u| (&u.from, &u.to) == (&d.0, &d.1)))
        .map(|(f, t)| format!("{f} -> {t}"))
        .collect();
    if unused.is_empty() {
        return Ok(Observed { declared, used, per_request, reference_ms, passes: 1, answered });
    }
    events.report(&Event::ReferenceRepeated { service, passes: REFERENCE_PASSES, unused: &unused });
    let again = crate::scenario::experiments::reference_passes(w, config, REFERENCE_PASSES)?;
    pool.expect([&again.scenario]);
    let o = pool.run(&again.scenario, config, opts).await;
    if o.status != Status::Passed {
        if let Some(e) = disagrees(loaded, w, &o) {
            return Err(e);
        }
        return Err(ReferenceError::FailsAgain { service: service.clone(), passes: REFERENCE_PASSES, why: why(&o) });
    }
    for mut e in used_edges(&o) {
        match used.iter_mut().find(|u| (&u.from, &u.to) == (&e.from, &e.to)) {
            // The passes may show more of the dependency's own errors.
            Some(u) => {
                for s in e.statuses {
                    if !u.statuses.contains(&s) {
                        u.statuses.push(s);
                    }
                }
            }
            None => {
                e.passes = first_pass(&o, &e.name(), w.steps.len()).unwrap_or(REFERENCE_PASSES);
                if let Some(f) = e.first.as_mut() {
                    // The step within its pass; the time stays the run's (after the passes before).
                    f.step %= w.steps.len().max(1);
                }
                // Its calls over the passes it needs, at the rate of the passes run.
                e.calls = e.calls.saturating_mul(e.passes).div_ceil(REFERENCE_PASSES);
                used.push(e);
            }
        }
    }
    for (edge, (n, which)) in attempts_per_request(&o, service) {
        let k = per_request.entry(edge).or_insert((0, String::new()));
        if n > k.0 {
            *k = (n, which);
        }
    }
    Ok(Observed { declared, used, per_request, reference_ms, passes: REFERENCE_PASSES, answered })
}

/// What failed a run that should have passed, on one line.
fn why(o: &ScenarioOutcome) -> String {
    o.first_failure()
        .map(|(what, expected, observed)| format!("{what}: expected {expected}, observed {observed}"))
        .or(o.error.clone())
        .unwrap_or_default()
}

/// The fallbacks found: each edge with its trigger (`down on a -> b`).
type Covered = Vec<(UsedEdge, String)>;

/// The experiments of the fallbacks: for each edge of `unused` (declared, no traffic in the
/// reference passes), the first experiment that ran during whose steps it carried traffic
/// (one of one request at a time when there is one) is its trigger, and the edge's faults
/// are tried with the trigger's fault on at the same time. One trigger per edge: bounded by
/// the catalogue of one edge per fallback. Returns the experiments and the edges covered,
/// each with its trigger (`down on a -> b`).
fn fallbacks(
    w: &Workload,
    config: &crate::config::Config,
    unused: &[(String, String)],
    experiments: &[Experiment],
    results: &Results,
) -> Result<(Vec<Experiment>, Covered), crate::scenario::experiments::InvalidExperiment> {
    let seen: Vec<(Mode, Vec<UsedEdge>)> = experiments
        .iter()
        .map(|e| match results.get(&e.name).and_then(|(_, o)| o.as_ref()) {
            Some((o, _)) if o.status != Status::Error => (e.mode, traffic(o, Some(o.checks_ms))),
            _ => (e.mode, Vec::new()),
        })
        .collect();
    let mut out = Vec::new();
    let mut covered = Vec::new();
    for (edge, i) in triggers(unused, &seen) {
        let trigger = &experiments[i];
        out.extend(crate::scenario::experiments::fallback(w, config, &edge, trigger)?);
        covered.push((edge, format!("{} on {}", trigger.class, trigger.on)));
    }
    Ok((out, covered))
}

/// For each edge of `unused`, the experiment (an index of `seen`, the edges each experiment's
/// steps used, in the order they were generated) that first used it, preferring one run one
/// request at a time; edges no experiment used are left out.
pub(crate) fn triggers(unused: &[(String, String)], seen: &[(Mode, Vec<UsedEdge>)]) -> Vec<(UsedEdge, usize)> {
    let mut out = Vec::new();
    for (from, to) in unused {
        let uses =
            |(_, (_, edges)): &(usize, &(Mode, Vec<UsedEdge>))| edges.iter().any(|u| (&u.from, &u.to) == (from, to));
        let mut candidates = seen.iter().enumerate().filter(uses);
        let first = candidates.clone().next();
        let Some((i, (_, edges))) = candidates.find(|(_, (m, _))| *m == Mode::Sequential).or(first) else {
            continue;
        };
        if let Some(u) = edges.iter().find(|u| (&u.from, &u.to) == (from, to)) {
            out.push((u.clone(), i));
        }
    }
    out
}

/// The declared edges that carried traffic in no run: neither in the reference passes nor
/// during any experiment (`covered`: the fallbacks found).
pub(crate) fn not_exercised(
    unused: &[(String, String)],
    covered: &[(UsedEdge, String)],
    passes: u32,
    ran: usize,
) -> Vec<NotExercised> {
    unused
        .iter()
        .filter(|(f, t)| !covered.iter().any(|(u, _)| (&u.from, &u.to) == (f, t)))
        .map(|(f, t)| NotExercised {
            edge: format!("{f} -> {t}"),
            why: format!(
                "no traffic in {passes} pass{} of the workload without faults, nor during any of the {ran} experiment{} that ran: never faulted",
                if passes == 1 { "" } else { "es" },
                if ran == 1 { "" } else { "s" },
            ),
        })
        .collect()
}

/// Whether an experiment is on the edges of a service of `changed` (either end), or on such a
/// service itself.
pub(crate) fn touches(e: &Experiment, changed: &[String]) -> bool {
    let on = |s: &str| changed.iter().any(|c| c == s.trim());
    match e.on.split_once(" -> ") {
        Some((from, to)) => on(from) || on(to),
        None => on(&e.on),
    }
}

/// The experiments' results into the report, in the order they were generated; those not
/// started on what the change touched (`changed`) are listed apart too.
fn record(report: &mut ExploreReport, experiments: &[Experiment], results: &mut Results, changed: &[String]) {
    for e in experiments {
        match results.remove(&e.name) {
            Some((_, Some((outcome, compared)))) => {
                let scenario = (outcome.status == Status::Failed).then(|| e.text.clone());
                let base = compared.as_ref().map(|c| &c.base);
                let outage = e.outage.map(|p| OutageSeen::of(p, &e.on, &report.service, &outcome, base));
                report.ran.push(ExperimentResult {
                    class: e.class.clone(),
                    on: e.on.clone(),
                    mode: e.mode,
                    with: e.with.clone(),
                    outcome,
                    scenario,
                    compared,
                    difference: None,
                    accepted: None,
                    outage,
                });
                if let Some(r) = report.ran.last_mut() {
                    r.difference = r.difference_id(&report.service);
                }
            }
            Some((_, None)) => {
                report.unexplored.push(e.name.clone());
                if touches(e, changed) {
                    report.unexplored_touched.push(e.name.clone());
                }
            }
            None => {}
        }
    }
}

/// Each experiment's name, with what ran (`None`: not started).
type Results<'e> = BTreeMap<String, (&'e Experiment, Option<Ran>)>;

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
    /// Sustained outages skipped because the budget left could not hold them, on what the
    /// change touched: unexplored there, as anything the budget left unrun.
    cut: std::sync::Mutex<Vec<String>>,
}

/// An experiment's outcome on the change, and its comparison with the base.
type Ran = (ScenarioOutcome, Option<Compared>);

impl Wave<'_> {
    /// Runs `experiments` in waves: first those that wait for no other (one request at a time,
    /// the outages, the restarts, each transient failure's first flavour), then, wave by wave,
    /// each one whose twin ([`crate::scenario::experiments::twin`]: its run one request at a
    /// time, the same slow dependency with no load, the first flavour of its transient
    /// failure) ran and did not fail. One whose twin failed, or was skipped for a failure, is
    /// skipped with why: the same finding once. A twin outside `experiments` is not waited for.
    async fn waves<'e>(
        &self,
        experiments: &[&'e Experiment],
        results: &mut Results<'e>,
        skipped: &mut Vec<(String, String)>,
    ) {
        let names: std::collections::BTreeSet<&str> = experiments.iter().map(|e| e.name.as_str()).collect();
        let twin = |e: &Experiment| crate::scenario::experiments::twin(e).filter(|(t, _)| names.contains(t.as_str()));
        // An experiment skipped, by name: the failed one that stands for it.
        let mut stood_for: BTreeMap<String, String> = BTreeMap::new();
        let mut pending: Vec<&Experiment> = experiments.to_vec();
        let mut first_wave = true;
        while !pending.is_empty() {
            let settled = |t: &str| results.contains_key(t) || stood_for.contains_key(t);
            let (ready, rest): (Vec<&Experiment>, Vec<&Experiment>) =
                pending.into_iter().partition(|e| twin(e).is_none_or(|(t, _)| settled(&t)));
            // Twins form chains, never circles; should one ever, run the rest as they are.
            let (ready, rest) = if ready.is_empty() { (rest, Vec::new()) } else { (ready, rest) };
            let mut wave = Vec::new();
            for e in ready {
                if let Some(why) = self.too_long(e) {
                    self.pool.forget(&e.scenario);
                    if let Some((p, _)) = self.base {
                        p.forget(&e.scenario);
                    }
                    if touches(e, &self.xo.first) {
                        self.cut.lock().unwrap_or_else(|e| e.into_inner()).push(e.name.clone());
                    }
                    skipped.push((e.name.clone(), why));
                    continue;
                }
                let Some((t, why)) = twin(e) else {
                    wave.push(e);
                    continue;
                };
                let failed = stood_for.get(&t).cloned().or_else(|| self.failed(results, &t).then(|| t.clone()));
                match failed {
                    Some(by) => {
                        self.pool.forget(&e.scenario);
                        if let Some((p, _)) = self.base {
                            p.forget(&e.scenario);
                        }
                        skipped.push((e.name.clone(), format!("{by} failed already: {why}")));
                        stood_for.insert(e.name.clone(), by);
                    }
                    None => wave.push(e),
                }
            }
            // Saturation first after the first wave: within a budget, 16 and 64 at once find
            // what 4 at once cannot.
            if !first_wave {
                wave.sort_by_key(|e| e.mode != Mode::Saturated);
            }
            first_wave = false;
            for (e, o) in self.run(wave).await {
                results.insert(e.name.clone(), (e, o));
            }
            pending = rest;
        }
    }

    /// Why a sustained outage is not started: the budget left (while there is some) cannot
    /// hold it at the reference's rate, on the change and on the base. `None` for any other
    /// experiment, which the budget only stops from starting.
    fn too_long(&self, e: &Experiment) -> Option<String> {
        let plan = e.outage?;
        let left = self.xo.budget.checked_sub(self.start.elapsed()).filter(|l| !l.is_zero())?;
        let sides: u32 = if self.base.is_some() { 2 } else { 1 };
        let needs = Duration::from_millis(plan.estimate_ms) * sides;
        (needs > left).then(|| {
            format!(
                "the budget left ({:.0} s) cannot hold the outage: {} passes of the workload take {:.1} s at the reference's rate{}",
                left.as_secs_f64(),
                plan.passes,
                plan.estimate_ms as f64 / 1e3,
                if sides == 2 { ", on the change and on the base" } else { "" },
            )
        })
    }

    /// Whether the experiment `name` ran and failed, in a way that stands for its twins: a
    /// weakness the base shares does not (the twin may still be worse than the base).
    fn failed(&self, results: &Results<'_>, name: &str) -> bool {
        matches!(
            results.get(name).and_then(|(_, o)| o.as_ref()),
            Some((o, c)) if o.status == Status::Failed
                && !c.as_ref().is_some_and(|c| c.verdict == Differential::KnownWeakness)
        )
    }

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
            let result = ExperimentResult {
                class: e.class.clone(),
                on: e.on.clone(),
                mode: e.mode,
                with: e.with.clone(),
                outcome: o,
                scenario: None,
                compared,
                difference: None,
                accepted: None,
                outage: None,
            };
            let accepted = result.difference_id(&self.w.service).is_some_and(|id| self.xo.accepted.contains(&id));
            let (o, compared) = (result.outcome, result.compared);
            if o.status != Status::Passed && !weakness && !accepted {
                self.found.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            self.events.report(&Event::ExperimentFinished { service: &self.w.service, outcome: &o });
            (e, Some((o, compared)))
        }))
        .buffer_unordered(self.pool.in_flight())
        .collect()
        .await
    }

    /// A second round planned from the first's results (the fallbacks, the pairs): counted,
    /// expected on both sides' pools, announced with `edges`, run in waves.
    async fn round<'e>(
        &self,
        experiments: &'e [Experiment],
        edges: &[String],
        results: &mut Results<'e>,
        report: &mut ExploreReport,
    ) {
        if experiments.is_empty() {
            return;
        }
        report.planned += experiments.len();
        self.pool.expect(experiments.iter().map(|e| &e.scenario));
        if let Some((p, _)) = self.base {
            p.expect(experiments.iter().map(|e| &e.scenario));
        }
        let service = &self.w.service;
        self.events.report(&Event::ExperimentsPlanned { service, experiments: experiments.len(), edges });
        self.waves(&experiments.iter().collect::<Vec<_>>(), results, &mut report.skipped).await;
    }

    /// One experiment on one side, with the attempts oracle.
    async fn side(&self, e: &Experiment, pool: &StackPool, opts: &RunOptions) -> ScenarioOutcome {
        let fresh;
        let scenario = if self.xo.fresh_stacks {
            fresh = crate::scenario::validate::Scenario { fresh: true, ..e.scenario.clone() };
            &fresh
        } else {
            &e.scenario
        };
        let mut o = pool.run_reporting(scenario, &self.loaded.config, opts, self.events).await;
        if matches!(e.mode, Mode::Sequential | Mode::Sustained | Mode::Prolonged) && o.status != Status::Error {
            attempts_oracle(&mut o, self.w, self.per_request);
        }
        o
    }

    /// One experiment on the change, and on the base when there is one: a worse outcome
    /// seen once is run again on both sides, and counts only when it is seen again; it then
    /// fails the change's outcome with a check that says what is worse.
    async fn run_one(&self, e: &Experiment) -> Ran {
        let mut head = self.side(e, self.pool, self.opts).await;
        if let Some(Err(err)) = self.xo.base_results.as_ref().map(|r| r.put(&self.w.service, e, &head)) {
            tracing::warn!(error = %err, "the experiment's outcome is not recorded");
        }
        let Some((pool, base_opts)) = self.base else { return (head, None) };
        let (mut base, mut recorded) = self.base_side(e, pool, base_opts).await;
        let (mut verdict, mut differences) = crate::outcome::differential::compare(&head, &base);
        // A recorded result may spare the base's run, never decide against the change or
        // excuse it: worse, or a weakness, is judged on a run of this gate, with its seed.
        if recorded.is_some() && matches!(verdict, Differential::Worse | Differential::KnownWeakness) {
            pool.expect([&e.scenario]);
            base = self.side(e, pool, base_opts).await;
            recorded = None;
            (verdict, differences) = crate::outcome::differential::compare(&head, &base);
        }
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
        (head, Some(Compared { base, verdict, differences, pairs, recorded }))
    }

    /// The base's outcome of `e`: recorded under the base's tree (with that tree), or run.
    async fn base_side(
        &self,
        e: &Experiment,
        pool: &StackPool,
        opts: &RunOptions,
    ) -> (ScenarioOutcome, Option<String>) {
        let recorded = self.xo.base_results.as_ref().and_then(|r| Some((r.get(&self.w.service, e)?, r.read_tree()?)));
        match recorded {
            Some((o, tree)) => {
                pool.forget(&e.scenario);
                (o, Some(tree.to_owned()))
            }
            None => (self.side(e, pool, opts).await, None),
        }
    }
}

impl Wave<'_> {
    /// Equivalent faults, equivalent outcomes ([`crate::outcome::family`]): the experiments
    /// of a family (the flavours of one transient failure on one edge, in one mode, with the
    /// same other fault) that ran are compared with its first, on the change and on the
    /// base alike. A difference on the change counts once both experiments, run again, show
    /// it again (timing noise cannot block); each experiment compared gets the check, which
    /// joins the base comparison: a difference the base has too is a known weakness.
    async fn families<'e>(&self, experiments: impl Iterator<Item = &'e Experiment>, results: &mut Results<'e>) {
        let mut groups: BTreeMap<(String, String, Option<String>), Vec<&Experiment>> = BTreeMap::new();
        for e in experiments.filter(|e| crate::scenario::experiments::family(&e.class).is_some()) {
            let ran =
                results.get(&e.name).and_then(|(_, o)| o.as_ref()).is_some_and(|(o, _)| o.status != Status::Error);
            if ran {
                groups.entry((e.on.clone(), format!("{:?}", e.mode), e.with.clone())).or_default().push(e);
            }
        }
        for members in groups.values() {
            let [first, others @ ..] = members.as_slice() else { continue };
            let first_is = crate::scenario::experiments::flavour(&first.class);
            for other in others {
                let other_is = crate::scenario::experiments::flavour(&other.class);
                let saw = |e: &Experiment, o: &ScenarioOutcome| self.saw(e, o);
                let (head_diff, base_diff) = {
                    let (Some((_, Some((fh, fc)))), Some((_, Some((oh, oc))))) =
                        (results.get(&first.name), results.get(&other.name))
                    else {
                        continue;
                    };
                    let head = family::differences(&saw(first, fh), first_is, &saw(other, oh), other_is);
                    let base = match (fc, oc) {
                        (Some(f), Some(o)) if f.base.status != Status::Error && o.base.status != Status::Error => {
                            Some(family::differences(&saw(first, &f.base), first_is, &saw(other, &o.base), other_is))
                        }
                        _ => None,
                    };
                    (head, base)
                };
                // Seen once: run both again, on each side that differed.
                let mut head_diff = head_diff;
                let mut confirmed = false;
                if !head_diff.is_empty() && self.start.elapsed() < self.xo.budget {
                    let (a, b) = (self.again(first, None).await, self.again(other, None).await);
                    head_diff = family::differences(&saw(first, &a), first_is, &saw(other, &b), other_is);
                    confirmed = true;
                }
                // The base is compared only where the change differs: seen once there too, it is
                // run again before it makes the change's difference a known weakness.
                let mut base_diff = base_diff.filter(|_| !head_diff.is_empty());
                let mut base_confirmed = false;
                if let (Some(d), Some((pool, opts))) = (&base_diff, self.base)
                    && !d.is_empty()
                    && self.start.elapsed() < self.xo.budget
                {
                    let (a, b) =
                        (self.again(first, Some((pool, opts))).await, self.again(other, Some((pool, opts))).await);
                    base_diff = Some(family::differences(&saw(first, &a), first_is, &saw(other, &b), other_is));
                    base_confirmed = true;
                }
                let Some((_, Some((head, compared)))) = results.get_mut(&other.name) else { continue };
                head.checks.push(family::check(
                    head.checks.len(),
                    (&first.name, first_is),
                    other_is,
                    &head_diff,
                    confirmed,
                ));
                head.judge();
                if let (Some(c), Some(d)) = (compared.as_mut(), &base_diff) {
                    let index = c.base.checks.len();
                    c.base.checks.push(family::check(index, (&first.name, first_is), other_is, d, base_confirmed));
                    c.base.judge();
                    if c.verdict != Differential::Worse && c.verdict != Differential::Unjudged {
                        let (v, lines) = crate::outcome::differential::compare(head, &c.base);
                        (c.verdict, c.differences) = (v, lines);
                    }
                }
                if !head_diff.is_empty() && !compared.as_ref().is_some_and(|c| c.verdict == Differential::KnownWeakness)
                {
                    self.found.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }

    /// What the client saw under `e`: its graded answers, and, one request at a time, its
    /// attempts per workload request on the faulted edge.
    fn saw(&self, e: &Experiment, o: &ScenarioOutcome) -> family::ClientSaw {
        let attempts = (e.mode == Mode::Sequential)
            .then(|| attempts_per_request(o, &self.w.service).get(&e.on).map(|(n, _)| *n))
            .flatten();
        family::ClientSaw::of(o, attempts)
    }

    /// `e` run again, on the change (`None`) or on the base.
    async fn again(&self, e: &Experiment, base: Option<(&StackPool, &RunOptions)>) -> ScenarioOutcome {
        let (pool, opts) = base.unwrap_or((self.pool, self.opts));
        pool.expect([&e.scenario]);
        self.side(e, pool, opts).await
    }
}

/// The edges the workload used: HTTP requests or bytes crossed them during the steps.
pub(crate) fn used_edges(o: &ScenarioOutcome) -> Vec<UsedEdge> {
    traffic(o, None)
}

/// The edges HTTP requests crossed from the start of the steps until `until` (ms, from the
/// start of the steps; `None`: any time after), or bytes crossed after the steps began (a
/// connection's bytes have no time: an experiment's recovery check may count there).
pub(crate) fn traffic(o: &ScenarioOutcome, until: Option<f64>) -> Vec<UsedEdge> {
    let mut out = Vec::new();
    for (name, obs) in &o.edges {
        if name.starts_with("host -> ") {
            continue;
        }
        let Some((from, to)) = name.split_once(" -> ") else { continue };
        let offset = o.edge_offsets_ms.get(name).copied().unwrap_or(0.0);
        let during = |t: f64| t >= 0.0 && until.is_none_or(|u| t <= u);
        let requests = obs.requests.iter().filter(|r| during(r.start_ms + offset)).count();
        let before = o.edge_bytes_before_steps.get(name).copied().unwrap_or(0);
        let bytes = (obs.bytes_upstream + obs.bytes_downstream).saturating_sub(before);
        if requests > 0 || (bytes > 0 && (until.is_none() || obs.requests.is_empty())) {
            let opened = obs.connections.iter().filter(|c| during(c.opened_ms + offset)).count();
            let calls = if requests > 0 { requests } else { opened };
            out.push(UsedEdge {
                from: from.to_owned(),
                to: to.to_owned(),
                http: !obs.requests.is_empty(),
                passes: 1,
                statuses: own_errors(obs),
                first: first_use(o, name),
                calls: u32::try_from(calls).unwrap_or(u32::MAX),
            });
        }
    }
    out
}

/// The error statuses (400-599) the dependency itself answered on an edge, in the order first
/// seen, once each: not a fault's answers, nor a request it never answered.
pub(crate) fn own_errors(obs: &crate::fault::observe::Observations) -> Vec<u16> {
    let mut out = Vec::new();
    for r in &obs.requests {
        if let (Some(s), crate::fault::observe::RequestOutcome::Answered) = (r.status, r.outcome)
            && (400..=599).contains(&s)
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    out
}

/// The pass of a run of passes (`per_pass` steps each) in which `edge` first carried
/// traffic: its first request, or its first connection that carried bytes, opened during
/// the steps; `None` when neither has a time (bytes of a connection opened before the steps).
pub(crate) fn first_pass(o: &ScenarioOutcome, edge: &str, per_pass: usize) -> Option<u32> {
    let first = first_use(o, edge)?;
    u32::try_from(first.step / per_pass.max(1) + 1).ok()
}

/// The step of `o` during which `edge` first carried traffic (its first request, or its
/// first connection that carried bytes, opened during the steps), and when that step
/// started; `None` when neither has a time (bytes of a connection opened before the steps).
pub(crate) fn first_use(o: &ScenarioOutcome, edge: &str) -> Option<FirstUse> {
    let obs = o.edges.get(edge)?;
    let offset = o.edge_offsets_ms.get(edge).copied().unwrap_or(0.0);
    let requests = obs.requests.iter().map(|r| r.start_ms + offset);
    let conns =
        obs.connections.iter().filter(|c| c.bytes_upstream + c.bytes_downstream > 0).map(|c| c.opened_ms + offset);
    let t = requests.chain(conns).filter(|t| *t >= 0.0).min_by(f64::total_cmp)?;
    // The step it happened in: the last one that started before it.
    let mut starts: Vec<f64> = o.steps.iter().map(|s| s.start_ms).collect();
    starts.sort_by(f64::total_cmp);
    let step = starts.partition_point(|s| *s <= t).saturating_sub(1);
    Some(FirstUse { step, start_ms: starts.get(step).copied().unwrap_or(0.0).max(0.0).round() as u64 })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str) -> UsedEdge {
        UsedEdge {
            from: from.into(),
            to: to.into(),
            http: true,
            passes: 1,
            statuses: Vec::new(),
            first: None,
            calls: 1,
        }
    }

    /// An outcome of 8 steps of 100 ms each (4 passes of 2), with `api -> db` first asked
    /// at `db_ms` and `api -> cache` carrying only the bytes of a connection opened before
    /// the steps; the checks start at 800 ms.
    fn outcome(db_ms: f64) -> ScenarioOutcome {
        let steps: Vec<serde_json::Value> = (0..8)
            .map(|i| {
                serde_json::json!({ "index": i, "step": "GET api /call", "passed": true, "expected": "",
                "observed": "", "start_ms": i as f64 * 100.0, "end_ms": i as f64 * 100.0 + 90.0 })
            })
            .collect();
        let obs = |edge: &str, requests: serde_json::Value, bytes: u64| {
            serde_json::json!({ "edge": edge, "seed": 1, "elapsed_ms": 1000.0, "connections_opened": 1,
                "connections_by_outcome": {}, "bytes_upstream": bytes, "bytes_downstream": 0,
                "connections": [{ "id": 1, "opened_ms": 0.0, "closed_ms": null, "outcome": "open",
                                  "bytes_upstream": bytes, "bytes_downstream": 0 }],
                "requests": requests, "latency": null })
        };
        let request = serde_json::json!([{ "conn": 1, "seq": 1, "method": "GET", "path": "/call", "status": 200,
            "start_ms": db_ms + 50.0, "duration_ms": 1.0, "fault": null, "outcome": "answered" }]);
        let v = serde_json::json!({
            "name": "x", "file": "x.yaml", "target": "api", "why": "", "seed": 1, "status": "passed", "error": null,
            "steps": steps, "checks": [],
            "edges": { "api -> db": obs("api -> db", request, 10), "api -> cache": obs("api -> cache", serde_json::json!([]), 30) },
            "edge_offsets_ms": { "api -> db": -50.0, "api -> cache": -50.0 },
            "edge_bytes_before_steps": { "api -> cache": 10 },
            "checks_ms": 800.0, "stack_seconds": 0.0, "run_seconds": 0.0, "teardown_seconds": 0.0, "repro": ""
        });
        serde_json::from_value(v).expect("an outcome")
    }

    #[test]
    fn the_dependencys_own_errors_are_its_answers_not_a_faults() {
        let mut o = outcome(100.0);
        let request = |seq: u64, status: u16, outcome: &str| {
            serde_json::from_value(serde_json::json!({ "conn": 1, "seq": seq, "method": "GET", "path": "/call",
                "status": status, "start_ms": 60.0, "duration_ms": 1.0, "fault": null, "outcome": outcome }))
            .unwrap()
        };
        let db = o.edges.get_mut("api -> db").unwrap();
        db.requests.extend([
            request(2, 404, "answered"),
            request(3, 503, "faulted"),
            request(4, 409, "answered"),
            request(5, 404, "answered"),
            request(6, 302, "answered"),
        ]);
        let used = used_edges(&o);
        let db = used.iter().find(|e| e.to == "db").unwrap();
        assert_eq!(db.statuses, [404, 409], "in order, once each, 400-599, not the fault's 503");
        assert!(used.iter().find(|e| e.to == "cache").unwrap().statuses.is_empty());
    }

    #[test]
    fn the_pass_an_edge_first_carried_traffic_in() {
        // Asked at 450 ms: the 5th step, the first of the 3rd pass of 2 steps.
        assert_eq!(first_pass(&outcome(450.0), "api -> db", 2), Some(3));
        assert_eq!(first_pass(&outcome(0.0), "api -> db", 2), Some(1));
        assert_eq!(first_pass(&outcome(799.0), "api -> db", 2), Some(4));
        // Bytes of a connection opened before the steps have no time: all passes.
        assert_eq!(first_pass(&outcome(0.0), "api -> cache", 2), None);
        assert_eq!(first_pass(&outcome(0.0), "api -> nowhere", 2), None);
    }

    #[test]
    fn traffic_after_the_steps_is_not_an_experiments() {
        let names = |v: Vec<UsedEdge>| v.iter().map(UsedEdge::name).collect::<Vec<_>>();
        // During the steps: both (the cache's bytes have no time, they count).
        assert_eq!(names(traffic(&outcome(100.0), Some(800.0))), ["api -> cache", "api -> db"]);
        // A request during the checks (a recovery check) is not the fault's doing.
        assert_eq!(names(traffic(&outcome(900.0), Some(800.0))), ["api -> cache"]);
        // The reference counts any time after the steps began.
        assert_eq!(names(used_edges(&outcome(900.0))), ["api -> cache", "api -> db"]);
        assert!(used_edges(&outcome(100.0)).iter().all(|e| e.passes == 1));
    }

    #[test]
    fn a_fallback_is_explored_with_the_first_fault_that_made_it_carry_traffic() {
        let unused = [("api".to_owned(), "cache".to_owned()), ("api".to_owned(), "audit".to_owned())];
        let seen = vec![
            (Mode::Sequential, vec![edge("api", "db")]),
            (Mode::Concurrent, vec![edge("api", "db"), edge("api", "cache")]),
            (Mode::Sequential, vec![edge("api", "cache")]),
            (Mode::Sequential, vec![edge("api", "cache")]),
        ];
        // One trigger per edge, one request at a time preferred; audit never carried any.
        let t = triggers(&unused, &seen);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!((t[0].0.name(), t[0].1), ("api -> cache".to_owned(), 2));
        // Only a concurrent experiment used it: that one.
        let t = triggers(&unused[..1], &seen[..2]);
        assert_eq!(t[0].1, 1);
        assert!(triggers(&unused, &seen[..1]).is_empty());
    }

    #[test]
    fn an_edge_no_run_exercised_is_listed_with_why() {
        let unused = [("api".to_owned(), "cache".to_owned()), ("api".to_owned(), "audit".to_owned())];
        let covered = [(edge("api", "cache"), "down on api -> db".to_owned())];
        let n = not_exercised(&unused, &covered, 4, 25);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].edge, "api -> audit");
        assert!(n[0].why.contains("4 passes") && n[0].why.contains("25 experiments"), "{}", n[0].why);
        assert!(not_exercised(&unused[..1], &covered, 4, 25).is_empty());
    }
}
