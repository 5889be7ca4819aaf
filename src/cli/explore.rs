//! `faultline explore`: exploration of services of the working tree.

use std::path::{Path, PathBuf};

use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::outcome::ExploreReport;
use faultline::plan::ConfigFrom;
use faultline::repo::Repo;
use faultline::runner::base_results::BaseResults;
use faultline::runner::fault_search::ExploreOptions;

use super::session::{Interrupt, clock_seed, parse_duration, progress, runtime, worktree_options};

#[derive(clap::Args)]
pub(super) struct ExploreArgs {
    /// Explore this service (repeatable). Default: every service with a workload.
    #[arg(long = "service", value_name = "NAME")]
    pub(super) services: Vec<String>,
    /// Start no experiment after this long (per service); the rest is listed as unexplored.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub(super) budget: std::time::Duration,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Experiments run at once.
    #[arg(long, default_value_t = 2)]
    pub(super) jobs: usize,
    /// Write explore.json (every experiment, what it observed) into DIR.
    #[arg(long, value_name = "DIR")]
    pub(super) report: Option<PathBuf>,
    /// Write each failed experiment as a scenario file into DIR (`why: TODO`, for a senior
    /// to complete); an existing file is never overwritten.
    #[arg(long, value_name = "DIR")]
    pub(super) write: Option<PathBuf>,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(super) ready_timeout: std::time::Duration,
    /// Hand a variable to `prepare:` commands and other host commands: NAME passes your
    /// value, NAME=VALUE sets one (repeatable).
    #[arg(long = "prepare-env", value_name = "NAME[=VALUE]", value_parser = super::session::parse_env_arg)]
    pub(super) prepare_env: Vec<String>,
    /// Accept a difference (repeatable): its ID (`d-…`, as the report prints it), or
    /// `ID=WHO`. It is reported as accepted and does not fail the run.
    #[arg(long = "accept-difference", value_name = "ID[=WHO]", value_parser = super::gate::parse_accept)]
    pub(super) accept_difference: Vec<String>,
    /// Record every experiment's outcome into DIR (outside the checkout) under HEAD's tree,
    /// for the gates of changes based on it (`gate --base-results DIR`): run on the protected
    /// branch, from a clean checkout of it.
    #[arg(long, value_name = "DIR")]
    pub(super) record_base_results: Option<PathBuf>,
}

pub(super) fn exec(dir: &Path, args: ExploreArgs) -> miette::Result<i32> {
    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let services: Vec<String> = if args.services.is_empty() {
        loaded.config.explore.workloads.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    if services.is_empty() {
        eprintln!("faultline explore: no service has a workload; add `explore.workloads` to faultline.yaml");
        return Ok(exit::UNVERIFIED);
    }
    let mut exec = faultline::plan::Executable::of_worktree(&repo, loaded, Vec::new(), &services);
    let (ready, broken): (Vec<_>, Vec<_>) =
        std::mem::take(&mut exec.explore).into_iter().partition(|t| t.ready.is_ok());
    if let Some(Err(e)) = broken.into_iter().next().map(|t| t.ready) {
        return Err(miette::Report::new(e));
    }
    exec.explore = ready;
    let seed = args.seed.unwrap_or_else(clock_seed);
    eprintln!(
        "faultline explore: {}, seed {seed}, budget {}",
        services.join(", "),
        humantime::format_duration(args.budget)
    );
    let base_results = match &args.record_base_results {
        Some(dir) => Some(recorder(&repo, dir, &exec.config.source.text)?),
        None => None,
    };
    let opts = worktree_options(&repo, seed, args.ready_timeout, &args.prepare_env);
    let xo = ExploreOptions {
        budget: args.budget,
        jobs: args.jobs,
        first: Vec::new(),
        stop_at_first_failure: false,
        base: None,
        accepted: Vec::new(),
        fresh_stacks: false,
        partition: None,
        base_results,
    };
    runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let mut opts = opts;
        let refs: Vec<_> =
            exec.explore.iter().filter_map(|t| t.ready.as_ref().ok()).map(|(_, r)| &r.scenario).collect();
        if let Err(e) = faultline::runner::prepare_once(&refs, &exec.config.config, &mut opts).await {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
        let mut reports = Vec::new();
        let accepts = faultline::verdict::accept::from_flags(&args.accept_difference);
        for target in &exec.explore {
            let Some(r) = interrupt
                .or_remove(None, faultline::runner::fault_search::explore(&exec.config, target, &opts, &xo, &progress))
                .await
            else {
                return Ok(130);
            };
            let mut one = [r];
            for note in faultline::verdict::accept::apply(&mut one, &accepts, None) {
                eprintln!("faultline explore: {note}");
            }
            let [r] = one;
            print!("{}", faultline::report::explore::render(&r));
            reports.push(r);
        }
        finish(&reports, args.report.as_deref(), args.write.as_deref())
    })
}

/// Where `--record-base-results` records: `dir` outside the checkout, under HEAD's tree, which
/// the working tree must hold exactly (an outcome of uncommitted code is no tree's).
fn recorder(repo: &Repo, dir: &Path, config: &str) -> miette::Result<BaseResults> {
    BaseResults::check_dir(dir, repo.root())?;
    let Some(tree) = repo.clean_head_tree()? else {
        return Err(miette::miette!(
            help = "commit or stash what changed, or record from a fresh checkout of the protected branch",
            "--record-base-results records under HEAD's tree, and the working tree differs from HEAD"
        ));
    };
    Ok(BaseResults::new(dir, None, Some(tree), config))
}

/// Writes what was asked for; the exit code of all the reports.
fn finish(reports: &[ExploreReport], report: Option<&Path>, write: Option<&Path>) -> miette::Result<i32> {
    if let Some(dir) = report {
        std::fs::create_dir_all(dir).map_err(|e| miette::miette!("cannot create {}: {e}", dir.display()))?;
        let json = serde_json::to_string_pretty(reports).map_err(|e| miette::miette!("{e}"))?;
        let path = dir.join("explore.json");
        std::fs::write(&path, json).map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(dir) = write {
        for line in faultline::report::explore::write_scenarios(reports, dir) {
            eprintln!("{line}");
        }
    }
    let code = if reports.iter().any(|r| r.error.is_some() || r.errors().next().is_some()) {
        exit::UNVERIFIED
    } else if reports.iter().any(|r| r.failed().next().is_some()) {
        exit::BLOCK
    } else {
        exit::ALLOW
    };
    Ok(code)
}
