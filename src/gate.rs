//! The gate: every stage in order, from a change to a verdict.
//!
//! plan (configuration and scenarios from the base revision) → sign-off → the selected
//! scenarios, each on a fresh stack built from the head revision (exported to a temporary
//! directory, so the user's working tree is never touched) → verdict. Anything that stops the
//! gate from judging is a verdict of its own: could not verify, which blocks.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::outcome::{ExploreReport, GateReport, GateTimings, Partition, RunBinding, ScenarioOutcome, plan_digest};
use crate::plan::{self, Code, Executable, Plan, PlanRequest};
use crate::repo::Repo;
use crate::runner::event::{Event, Reporter};
use crate::runner::fault_search::ExploreOptions;
use crate::runner::pool::StackPool;
use crate::runner::supervise::{Ended, supervise};
use crate::runner::{PrepareError, run_reporting};
use crate::stack::RunOptions;
use crate::stack::overlap::EarlyImages;
use crate::stack::sandbox::{BuildCache, Seed};
use crate::verdict::signoff;

#[derive(Debug, Clone)]
pub struct GateRequest {
    pub plan: PlanRequest,
    /// Approvals handed in by CI (emails or `@handles`).
    pub approved_by: Vec<String>,
    /// Differences accepted, handed in by CI: `ID` or `ID=WHO` (`--accept-difference`).
    pub accept_difference: Vec<String>,
    /// The pull request on its code host: its approvals are read when the plan needs a
    /// sign-off (only approving reviews of its head commit count).
    pub code_host: Option<crate::codehost::HostRef>,
    pub seed: u64,
    /// Bounds the whole gate; hitting it is "could not verify".
    pub timeout: Option<Duration>,
    pub ready_timeout: Duration,
    /// Scenarios run at once.
    pub jobs: usize,
    /// Extra environment of `prepare` commands.
    pub prepare_env: Vec<(String, String)>,
    /// Run only this share of the selected scenarios (`--partition K/N`).
    pub partition: Option<Partition>,
    /// Run only these of the selected scenarios (`repro`); `None`: all.
    pub only: Option<Vec<String>>,
    /// A fresh stack for every scenario, instead of stacks shared and reset between them.
    pub fresh_stacks: bool,
    /// Stacks started or reset ahead of the scenarios that will run on them, while others
    /// run; `None`: one per core, up to `jobs`.
    pub stacks_ahead: Option<usize>,
    /// Per explored service: no experiment starts after this long.
    pub explore_budget: Duration,
    /// Recorded base results ([`crate::runner::base_results`]): the base's experiments are
    /// looked up here before they run. Must lie outside the checkout.
    pub base_results: Option<std::path::PathBuf>,
    /// Record every experiment's outcome on the head into `base_results`, for the changes
    /// based on it (the gate of the protected branch).
    pub record_base_results: bool,
}

/// Runs the gate. Never fails: what cannot be judged is a verdict.
pub async fn gate(repo_dir: &Path, req: &GateRequest, events: &dyn Reporter) -> GateReport {
    gate_keeping(repo_dir, req, false, events).await.0
}

/// [`gate`], keeping the stack when exactly one scenario runs and `keep` is set (for
/// `repro --keep`): the caller removes it ([`crate::stack::Stack::shutdown`]).
pub(crate) async fn gate_keeping(
    repo_dir: &Path,
    req: &GateRequest,
    keep: bool,
    events: &dyn Reporter,
) -> (GateReport, Option<crate::stack::Stack>) {
    let kept = tokio::sync::Mutex::new(None);
    let report = gate_inner(repo_dir, req, keep, &kept, events).await;
    (report, kept.into_inner())
}

async fn gate_inner(
    repo_dir: &Path,
    req: &GateRequest,
    keep: bool,
    kept: &tokio::sync::Mutex<Option<crate::stack::Stack>>,
    events: &dyn Reporter,
) -> GateReport {
    let start = Instant::now();
    let mut report = GateReport::new(req.seed, req.partition);
    // Phase 1, plan: configuration and scenarios from the base, the change from git.
    let repo = match Repo::discover(repo_dir) {
        Ok(r) => r,
        Err(e) => return report.unverified(e.to_string(), start),
    };
    if let Some(dir) = &req.base_results
        && let Err(e) = crate::runner::base_results::BaseResults::check_dir(dir, repo.root())
    {
        return report.unverified(e.to_string(), start);
    }
    let planned = match plan::planned(&repo, &req.plan) {
        Ok(p) => p,
        Err(e) => return report.unverified(e.to_string() + &detail(&e), start),
    };
    report.timings.plan_seconds = start.elapsed().as_secs_f64();
    report.run = Some(RunBinding {
        base: planned.plan.base.commit.clone(),
        head: planned.plan.head.as_ref().map(|h| h.commit.clone()),
        config_digest: planned.config_digest.clone(),
        plan_digest: plan_digest(&planned.plan),
    });
    // A shard records the approvals it was handed, for information; `report merge` decides
    // the sign-off and reads the code host itself, once.
    let mut given = match req.partition {
        Some(_) => crate::verdict::GivenApprovals::from_flags(&req.approved_by),
        None => given_approvals(&req.approved_by, req.code_host.as_ref(), &planned.plan).await,
    };
    given.accepts.extend(crate::verdict::accept::from_flags(&req.accept_difference));
    // Exploration goes on past a failure whose difference is accepted (the verdict decides
    // whether the acceptance counts): every accepted ID, from any source, is handed to it.
    let mut with_accepted = req.clone();
    with_accepted.accept_difference = given.accepts.iter().map(|a| a.id.clone()).collect();
    let req = &with_accepted;
    let sign = signoff(&planned.plan, &given);
    events.report(&Event::Planned(&planned.plan));
    report.plan = Some(planned.plan.clone());
    report.signoff = Some(sign);
    // Nothing to run, and nothing a build could add: the rule does not select by what is
    // affected, or every service built by a `prepare:` is affected already.
    let reads = crate::runner::depinfo::needed(&planned.plan, &planned.config.config);
    if planned.plan.scenarios.is_empty() && planned.plan.explore.is_empty() && !reads {
        return report.decide(Vec::new(), start);
    }
    // Phase 2, execute: the plan as it runs (scenarios validated, references made, head
    // exported; nothing after this reads git or YAML), head's code built and run, all under
    // the deadline; every host command killed and every stack removed when it passes.
    let seen = Seen::default();
    let work = async {
        let mut exec = planned.executable(&repo).map_err(Unverifiable::Plan)?;
        let selected = exec.scenarios.len();
        // A share of the scenarios; every shard explores, its share of the experiments.
        exec.retain(|name| req.partition.is_none_or(|p| p.contains(name)));
        exec.scenarios.retain(|s| req.only.as_ref().is_none_or(|only| only.contains(&s.name)));
        if let Some(p) = req.partition {
            let share = p.to_string();
            events.report(&Event::Partition { share: &share, running: exec.scenarios.len(), selected });
        }
        execute(req, &exec, keep.then_some(kept), events, &seen, start).await
    };
    let limit = req.timeout.map(|l| l.saturating_sub(start.elapsed()));
    let outcome = supervise(work, limit, std::future::pending(), None).await;
    report.prepare = std::mem::take(&mut *seen.prepare.lock().unwrap_or_else(|e| e.into_inner()));
    match outcome {
        Ended::Done(Ok((outcomes, timings, exploration))) => {
            report.timings = GateTimings { plan_seconds: report.timings.plan_seconds, ..timings };
            report.exploration = exploration;
            let mut notes =
                crate::verdict::accept::apply(&mut report.exploration, &given.accepts, report.signoff.as_ref());
            notes.extend(crate::verdict::accept::unseen(&report.exploration, given.unreadable.as_deref()));
            let mut report = report.decide(outcomes, start);
            report.reasons.extend(notes);
            report
        }
        Ended::Done(Err(reason)) => report.unverified(reason.to_string(), start),
        Ended::TimedOut | Ended::Interrupted => {
            let still = seen.running.lock().unwrap_or_else(|e| e.into_inner()).join(", ");
            report.unverified(
                format!(
                    "the gate timed out after {} while running: {}",
                    humantime::format_duration(req.timeout.unwrap_or_default()),
                    if still.is_empty() { "(between steps)".to_owned() } else { still }
                ),
                start,
            )
        }
    }
}

/// `--approved-by`, and the code host's approvals when a sign-off is needed. Approvals that
/// cannot be read are said so: a missing sign-off then cannot be judged. The one reading of
/// approvals, by the step that decides: the gate, or `report merge` for a sharded gate.
pub async fn given_approvals(
    approved_by: &[String],
    host: Option<&crate::codehost::HostRef>,
    planned: &Plan,
) -> crate::verdict::GivenApprovals {
    let mut given = crate::verdict::GivenApprovals::from_flags(approved_by);
    // Reviews are read for a sign-off, and where exploration may find a difference a senior
    // accepts in one.
    if let Some(host) = host.filter(|_| planned.signoff_required || !planned.explore.is_empty()) {
        match crate::codehost::approvals(host).await {
            Ok(found) => {
                given.counted.extend(found.counted);
                given.stale.extend(found.stale);
                for (text, who, source) in found.said {
                    for id in crate::verdict::accept::in_text(&text) {
                        given.accepts.push(crate::verdict::accept::Acceptance {
                            id,
                            by: who.clone(),
                            source: source.clone(),
                        });
                    }
                }
            }
            Err(e) => given.unreadable = Some(e.to_string()),
        }
    }
    given
}

/// Why the execute phase could not verify: the plan could not be made executable, or the
/// change could not be prepared.
#[derive(Debug, thiserror::Error)]
enum Unverifiable {
    /// With the located problems of the configuration or the scenarios, one a line.
    #[error("{}{}", .0, detail(.0))]
    Plan(crate::plan::PlanError),
    #[error(transparent)]
    Prepare(#[from] crate::runner::PrepareError),
    #[error("cannot read what the builds read: {0}")]
    DepInfo(#[from] crate::runner::depinfo::DepInfoError),
    /// Changed files the build of a service read, which the plan did not mark affected.
    #[error(
        "the change reaches services the plan did not select: {}; declare each file in the service's `inputs:` \
         (services.SERVICE.inputs in faultline.yaml on the base branch) so the plan selects its scenarios",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    UnplannedReads(Vec<crate::runner::depinfo::UnplannedRead>),
}

/// What the execute phase has seen so far, kept when the deadline drops it: what is
/// running (for the timeout's reason) and the output of `prepare:` commands.
#[derive(Default)]
struct Seen {
    running: std::sync::Mutex<Vec<String>>,
    prepare: std::sync::Mutex<Vec<crate::outcome::CommandLog>>,
}

/// Builds head (prepare, images, tests of `nextest` steps) and runs the selected scenarios,
/// `--jobs` at once, the longest first; keeps the stack in `kept` when one is given and one
/// scenario runs. `Err` is why the gate could not verify.
async fn execute(
    req: &GateRequest,
    exec: &Executable,
    kept: Option<&tokio::sync::Mutex<Option<crate::stack::Stack>>>,
    events: &dyn Reporter,
    seen: &Seen,
    start: Instant,
) -> Result<(Vec<ScenarioOutcome>, GateTimings, Vec<ExploreReport>), Unverifiable> {
    let running = &seen.running;
    let mut timings = GateTimings { plan_seconds: start.elapsed().as_secs_f64(), ..GateTimings::default() };
    let selected = &exec.scenarios;
    let loaded = &exec.config;
    let commit = match &exec.code {
        Code::Export { commit, .. } => commit[..commit.len().min(12)].to_owned(),
        Code::Dir(_) => String::new(),
    };
    let mut opts = RunOptions::for_gate(
        req.seed,
        exec.code.root().to_path_buf(),
        req.ready_timeout,
        req.prepare_env.clone(),
        format!("git checkout {commit} && faultline run"),
    );
    opts.keep = kept.is_some() && selected.len() == 1;
    // The services this gate explores (those of its share under `--partition`), with their
    // reference runs, so their images are built with the scenarios'.
    let mut refs: Vec<_> = selected.iter().collect();
    refs.extend(exec.explore.iter().filter_map(|e| e.ready.as_ref().ok()).map(|(_, r)| &r.scenario));
    let read_builds = exec.plan.as_ref().filter(|p| crate::runner::depinfo::needed(p, &loaded.config));
    let nothing_to_run = selected.is_empty() && exec.explore.is_empty();
    // Builds start from a build of the base, made once per base tree; a gate that builds
    // nothing does not make it.
    // The images no build can write build meanwhile, from the first build on.
    let mut early = if nothing_to_run {
        EarlyImages::none()
    } else {
        opts.early_images(&loaded.config, &crate::runner::stack_services(&refs), &[])
    };
    let seed = if read_builds.is_some() || !nothing_to_run {
        early.during(seeded(exec, &opts, seen, events)).await.map_err(PrepareError::from)?
    } else {
        None
    };
    if loaded.config.isolation.as_ref().is_some_and(|i| i.on_runner.is_none()) {
        opts.build_cache = build_cache(seed.as_ref());
    }
    let done = match read_builds {
        Some(plan) => {
            early.during(builds_read(plan, exec, &opts, seen, events)).await.map_err(PrepareError::from)??
        }
        None => Vec::new(),
    };
    if nothing_to_run {
        timings.build_seconds = start.elapsed().as_secs_f64() - timings.plan_seconds;
        return Ok((Vec::new(), timings, Vec::new()));
    }
    let p = prepare(&refs, &loaded.config, &mut opts, &done, early, seen, events).await?;
    timings.images_seconds = p.images_seconds;
    timings.build_seconds = start.elapsed().as_secs_f64() - timings.plan_seconds - p.images_seconds;

    let t = Instant::now();
    let order = run_order(selected);
    // Stacks shared by scenarios of the same services, reset between them; or one each.
    let pool = (!req.fresh_stacks && !opts.keep)
        .then(|| StackPool::new(selected.iter()).at_once(req.jobs).ahead(req.stacks_ahead));
    let runs = futures_util::stream::iter(order.into_iter().map(|s| {
        let opts = &opts;
        let loaded = &loaded;
        let pool = pool.as_ref();
        async move {
            running.lock().unwrap_or_else(|e| e.into_inner()).push(s.name.clone());
            events.report(&Event::ScenarioStarted { name: &s.name, target: &s.target });
            let o = match pool {
                Some(pool) => pool.run_reporting(s, &loaded.config, opts, events).await,
                None => {
                    let (o, stack) = run_reporting(s, &loaded.config, opts, events).await;
                    if let (Some(stack), Some(kept)) = (stack, kept) {
                        *kept.lock().await = Some(stack);
                    }
                    o
                }
            };
            running.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| n != &s.name);
            events.report(&Event::ScenarioFinished(&o));
            o
        }
    }));
    use futures_util::StreamExt;
    let in_flight = pool.as_ref().map_or(req.jobs.max(1), StackPool::in_flight);
    let mut outcomes = runs.buffer_unordered(in_flight).collect::<Vec<_>>().await;
    // Reports list scenarios by name, whatever order they ran in.
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    // Stacks removed in the background are gone before the gate answers.
    let mut background = match &opts.teardowns {
        Some(t) => crate::runner::finish_teardowns(t).await,
        None => 0.0,
    };
    if let Some(pool) = &pool {
        let (seconds, counts) = pool.finish().await;
        background += seconds;
        timings.stacks = counts;
    } else {
        // A stack of its own for every scenario (--fresh-stacks, or one kept for repro).
        timings.stacks.started = outcomes.len();
    }
    timings.scenarios_seconds = t.elapsed().as_secs_f64();
    timings.stacks_seconds = outcomes.iter().map(|o| o.stack_seconds).sum();
    timings.runs_seconds = outcomes.iter().map(|o| o.run_seconds).sum();
    timings.teardown_seconds = outcomes.iter().map(|o| o.teardown_seconds).sum::<f64>() + background;

    // Exploration of the affected services the rule says to explore, after their scenarios.
    let t = Instant::now();
    let exploration = explore_affected(exec, req, &outcomes, &opts, seed.as_ref(), events, running).await;
    timings.explore_seconds = t.elapsed().as_secs_f64();
    Ok((outcomes, timings, exploration))
}

/// The change's build and images, once for every scenario, said and seen while it runs
/// (the `prepare:` commands in `done` ran already, in [`builds_read`]; `early` builds the
/// images no build can write, started before the first).
async fn prepare(
    refs: &[&crate::scenario::validate::Scenario],
    config: &crate::config::Config,
    opts: &mut RunOptions,
    done: &[String],
    early: EarlyImages,
    seen: &Seen,
    events: &dyn Reporter,
) -> Result<crate::runner::Prepared, PrepareError> {
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).push("prepare (build of the change)".into());
    let mut commands = crate::runner::prepare_commands(refs, config);
    commands.retain(|(_, c)| !done.contains(c));
    if !commands.is_empty() {
        events.report(&Event::Preparing(&commands));
    }
    let p = crate::runner::prepare_once_with(refs, config, opts, done, early).await?;
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).clear();
    seen.prepare.lock().unwrap_or_else(|e| e.into_inner()).extend(p.commands.iter().cloned());
    Ok(p)
}

/// The build of every service with a `prepare:` (each command once), then what each build
/// read, from Cargo's dep-info ([`crate::runner::depinfo`]): a changed file read by the build
/// of a service the plan did not mark affected is could not verify, naming the file and the
/// service (the plan would have selected other scenarios). Returns the commands that ran.
async fn builds_read(
    plan: &Plan,
    exec: &Executable,
    opts: &RunOptions,
    seen: &Seen,
    events: &dyn Reporter,
) -> Result<Vec<String>, Unverifiable> {
    let config = &exec.config.config;
    let services: Vec<String> =
        config.services.iter().filter(|(_, s)| s.prepare.is_some()).map(|(n, _)| n.clone()).collect();
    let commands: Vec<(String, String)> = crate::stack::prepare_commands(config, &services)
        .into_iter()
        .map(|(s, c)| (s.to_owned(), c.to_owned()))
        .collect();
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).push("prepare (build of every service)".into());
    events.report(&Event::Preparing(&commands));
    let logs = crate::stack::prepare(config, &services, &opts.root, &opts.prepare_env, &[], &opts.build_cache)
        .await
        .map_err(crate::runner::PrepareError::from)?;
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).clear();
    seen.prepare.lock().unwrap_or_else(|e| e.into_inner()).extend(logs);
    // Where the builds wrote: the isolated builds' cache, or `CARGO_TARGET_DIR` of their
    // environment on the runner, else every target directory Cargo marked under the code.
    let target = match crate::stack::sandbox::place(config, "prepare").map_err(crate::runner::PrepareError::from)? {
        crate::stack::sandbox::Place::Container(_) => Some(opts.build_cache.dir(&opts.root).join("target")),
        crate::stack::sandbox::Place::Runner(_) => {
            let env = crate::stack::host::env(&config.policy.prepare_env, &opts.prepare_env);
            env.iter().find(|(k, _)| k == "CARGO_TARGET_DIR").map(|(_, v)| std::path::PathBuf::from(v))
        }
    };
    let infos = crate::runner::depinfo::read_all(&opts.root, target.as_deref())?;
    let unplanned = crate::runner::depinfo::unplanned_reads(plan, &exec.config, &infos, &opts.root);
    if !unplanned.is_empty() {
        return Err(Unverifiable::UnplannedReads(unplanned));
    }
    Ok(commands.into_iter().map(|(_, c)| c).collect())
}

/// Explores the plan's services (in order) after the scenarios, unless a scenario decided
/// already.
async fn explore_affected(
    exec: &Executable,
    req: &GateRequest,
    outcomes: &[ScenarioOutcome],
    opts: &RunOptions,
    seed: Option<&Seed>,
    events: &dyn Reporter,
    running: &std::sync::Mutex<Vec<String>>,
) -> Vec<ExploreReport> {
    let mut xo = ExploreOptions {
        budget: req.explore_budget,
        jobs: req.jobs,
        first: exec.plan.iter().flat_map(|p| &p.affected).map(|a| a.service.clone()).collect(),
        stop_at_first_failure: true,
        base: None,
        accepted: req
            .accept_difference
            .iter()
            .map(|a| a.split_once('=').map_or(a.as_str(), |(id, _)| id).to_ascii_lowercase())
            .collect(),
        fresh_stacks: req.fresh_stacks,
        partition: req.partition,
        base_results: req.base_results.as_ref().map(|dir| {
            let tree = |c: &Code| match c {
                Code::Export { tree, .. } => Some(tree.clone()),
                Code::Dir(_) => None,
            };
            let write = if req.record_base_results { tree(&exec.code) } else { None };
            crate::runner::base_results::BaseResults::new(
                dir,
                exec.base_code.as_ref().and_then(tree),
                write,
                &exec.config.source.text,
            )
        }),
    };
    let mut exploration = Vec::new();
    // A scenario that did not pass decides already (block, or could not verify):
    // exploration would only add findings.
    if let Some(o) = outcomes.iter().find(|o| o.status != crate::outcome::Status::Passed) {
        for target in &exec.explore {
            let why = format!("not explored: scenario {} did not pass, which decides already", o.name);
            events.report(&Event::ExploreSkipped { service: &target.service, why: &why });
            exploration.push(ExploreReport {
                service: target.service.clone(),
                seed: req.seed,
                skipped: vec![("*".into(), why)],
                ..Default::default()
            });
        }
        return exploration;
    }
    xo.base = base_options(exec, opts, seed, events).await;
    for target in &exec.explore {
        let what = format!("exploration of {}", target.service);
        running.lock().unwrap_or_else(|e| e.into_inner()).push(what.clone());
        let r = crate::runner::fault_search::explore(&exec.config, target, opts, &xo, events).await;
        events.report(&Event::Explored(&r));
        let recorded = r.ran.iter().filter(|x| x.compared.as_ref().is_some_and(|c| c.recorded.is_some())).count();
        if recorded > 0 {
            let note = format!(
                "{recorded} of the {} experiments of {} were compared with the base's recorded results, not run on it",
                r.ran.len(),
                target.service
            );
            events.report(&Event::Note(&note));
        }
        running.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| *n != what);
        exploration.push(r);
    }
    exploration
}

/// How to run the base's build, prepared (its `prepare:` commands and images, for the
/// explored services' stacks); `None` when there is no base to compare with or it cannot be
/// built (exploration then judges by the absolute oracles alone, and says so).
async fn base_options(
    exec: &Executable,
    opts: &RunOptions,
    seed: Option<&Seed>,
    events: &dyn Reporter,
) -> Option<RunOptions> {
    let code = exec.base_code.as_ref()?;
    let refs: Vec<_> = exec.explore.iter().filter_map(|e| e.ready.as_ref().ok()).map(|(_, r)| &r.scenario).collect();
    let root = code.root().to_path_buf();
    let mut base = RunOptions { root, prepared: false, build_cache: build_cache(seed), ..opts.clone() };
    match crate::runner::prepare_once(&refs, &exec.config.config, &mut base).await {
        Ok(_) => Some(base),
        Err(e) => {
            let note = format!("the base revision could not be built, so experiments are not compared with it: {e}");
            events.report(&Event::Note(&note));
            None
        }
    }
}

/// The seed of isolated builds: one build of the base tree by faultline, made now when no
/// run made it before. `None` when builds are not isolated, there is no base, or the base
/// does not build (the change's build then starts from nothing, and the note says why).
async fn seeded(exec: &Executable, opts: &RunOptions, seen: &Seen, events: &dyn Reporter) -> Option<Seed> {
    let Some(Code::Export { tree, dir, .. }) = &exec.base_code else { return None };
    let config = &exec.config.config;
    if config.isolation.as_ref().is_none_or(|i| i.on_runner.is_some()) {
        return None;
    }
    let services: Vec<String> =
        config.services.iter().filter(|(_, s)| s.prepare.is_some()).map(|(n, _)| n.clone()).collect();
    if services.is_empty() {
        return None;
    }
    if let Err(e) = crate::stack::sandbox::sweep_cache(false) {
        tracing::warn!(error = %e, "cannot sweep the build cache");
    }
    let seed = Seed::of_tree(tree);
    if seed.exists() {
        return Some(seed);
    }
    let _building = seed.lock().await.map_err(|e| tracing::warn!(error = %e, "no lock on the build cache")).ok();
    if seed.exists() {
        return Some(seed);
    }
    let warm = match BuildCache::copy_of(None) {
        Ok(c) => c,
        Err(e) => {
            events.report(&Event::Note(&format!("no build cache: {e}")));
            return None;
        }
    };
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).push("prepare (the base, to seed the build cache)".into());
    let built = crate::stack::prepare(config, &services, dir.path(), &opts.prepare_env, &[], &warm).await;
    seen.running.lock().unwrap_or_else(|e| e.into_inner()).clear();
    match built {
        Ok(_) => {
            seed.publish(&warm.dir(dir.path()));
            seed.exists().then_some(seed)
        }
        Err(e) => {
            let note = format!("the base revision did not build, so the change's build starts from nothing: {e}");
            events.report(&Event::Note(&note));
            None
        }
    }
}

/// A build cache of the run's own: a copy of `seed`, or empty.
fn build_cache(seed: Option<&Seed>) -> BuildCache {
    BuildCache::copy_of(seed.map(|s| s.dir.as_path())).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no copy of the build cache: builds start from nothing");
        BuildCache::default()
    })
}

/// The order scenarios start in: the longest first, each as soon as a slot is free (the
/// least time with `--jobs` at once), with the scenarios of the same services together so a
/// slot's stack serves them one after another; groups of more work first.
fn run_order(selected: &[crate::scenario::validate::Scenario]) -> Vec<&crate::scenario::validate::Scenario> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<Vec<String>, Vec<&crate::scenario::validate::Scenario>> = BTreeMap::new();
    for s in selected {
        groups.entry(crate::runner::pool::services_of(s)).or_default().push(s);
    }
    let mut groups: Vec<Vec<_>> = groups.into_values().collect();
    for g in &mut groups {
        g.sort_by(|a, b| {
            crate::runner::estimated(b).cmp(&crate::runner::estimated(a)).then_with(|| a.name.cmp(&b.name))
        });
    }
    let total = |g: &Vec<&crate::scenario::validate::Scenario>| -> Duration {
        g.iter().map(|s| crate::runner::estimated(s)).sum()
    };
    groups.sort_by(|a, b| total(b).cmp(&total(a)).then_with(|| a[0].name.cmp(&b[0].name)));
    groups.into_iter().flatten().collect()
}

/// The located problems of a configuration error, one per line, and the help of any error.
fn detail(e: &dyn miette::Diagnostic) -> String {
    let mut s = String::new();
    if let Some(related) = e.related() {
        for r in related {
            s.push_str(&format!("\n  {r}"));
        }
    }
    // What to do about it: a verdict that cannot be judged says how it could be.
    if let Some(help) = e.help() {
        s.push_str(&format!("\n  help: {help}"));
    }
    s
}
