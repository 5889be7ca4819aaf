//! `faultline gate` and `faultline repro`.

use std::path::PathBuf;

use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::{ConfigFrom, PlanRequest};

use super::session::{Interrupt, Listener, ci_inputs, clock_seed, parse_duration, prepare_env, runtime};

#[derive(clap::Args)]
pub(super) struct GateArgs {
    /// The branch the change goes into (`origin/main`). In CI it may be left out: the gate
    /// takes the pull request's base from the event (GitHub's `pull_request.base.sha`;
    /// GitLab's `CI_MERGE_REQUEST_TARGET_BRANCH_SHA`, else the fetched
    /// `origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME`). Given, it must agree with the event, and
    /// be on a branch `policy.base_branches` lists.
    #[arg(long, value_name = "REV")]
    pub(super) base: Option<String>,
    /// The change's tip. Default: the event's head commit in CI, else HEAD. Given in CI, it
    /// must be the event's head or the code host's test merge of it.
    #[arg(long, value_name = "REV")]
    pub(super) head: Option<String>,
    /// A CI label (repeatable; `a,b` is two). FAULTLINE_LABELS adds a comma-separated list; in
    /// GitHub Actions the pull request's labels come from the event file, in GitLab from
    /// CI_MERGE_REQUEST_LABELS.
    #[arg(long = "label", value_name = "LABEL")]
    pub(super) labels: Vec<String>,
    /// An approval handed in by CI (repeatable): an email or `@handle`, matched against
    /// policy.seniors. In GitHub Actions (with GITHUB_TOKEN) and GitLab (with
    /// FAULTLINE_GITLAB_TOKEN) the gate also reads the pull request's approvals itself.
    #[arg(long = "approved-by", value_name = "EMAIL")]
    pub(super) approved_by: Vec<String>,
    /// Accept a difference exploration found (repeatable): its ID (`d-…`, in the report),
    /// or `ID=WHO` to say who accepted it. Handed in by CI, like `--approved-by`; a senior
    /// may also accept one with `faultline accept ID` in a review of the head commit (GitLab:
    /// a merge request note written since the head was pushed). An
    /// accepted difference is reported as accepted and does not block.
    #[arg(long = "accept-difference", value_name = "ID[=WHO]", value_parser = parse_accept)]
    pub(super) accept_difference: Vec<String>,
    /// Write verdict.json (and later the other reports) into DIR.
    #[arg(long, value_name = "DIR")]
    pub(super) report: Option<PathBuf>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Bound the whole gate, builds of the change included; hitting it means "could not
    /// verify", and every command and container the gate started is stopped.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) timeout: Option<std::time::Duration>,
    /// Scenarios run at once (their faults, steps and checks); the stacks of as many more,
    /// up to one per core, start or reset meanwhile.
    #[arg(long, default_value_t = 2)]
    pub(super) jobs: usize,
    /// Hand a variable to the change's code on the host (`prepare:`, nextest builds, host
    /// `exec` steps): NAME passes the runner's value, NAME=VALUE sets one (repeatable). Only
    /// PATH, HOME, the toolchain's variables and these reach it; never the runner's secrets.
    #[arg(long = "prepare-env", value_name = "NAME[=VALUE]", value_parser = super::session::parse_env_arg)]
    pub(super) prepare_env: Vec<String>,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(super) ready_timeout: std::time::Duration,
    /// Run share K of N of the selected scenarios (by a hash of their names) and of each
    /// explored service's experiments, for several runners; `faultline report merge` makes
    /// one verdict of the shards' reports.
    #[arg(long, value_name = "K/N")]
    pub(super) partition: Option<faultline::outcome::Partition>,
    /// Start a stack for every scenario instead of sharing stacks, reset and proven clean
    /// between scenarios (slower; for comparison and suspicion).
    #[arg(long)]
    pub(super) fresh_stacks: bool,
    /// Stacks started or reset ahead of the scenarios that will run on them, while others
    /// run (default: one per core, up to --jobs). 0 prepares each stack only when its
    /// scenario's turn comes: fewer containers at once, and a stack is reused whenever one of
    /// its services is idle.
    #[arg(long, value_name = "N")]
    pub(super) stacks_ahead: Option<usize>,
    /// For the pull request that adopts faultline: when the base has no faultline.yaml yet,
    /// check the head's configuration and scenarios, show what they will gate once merged,
    /// and exit 0 (nothing is enforced before then). When the base has one, this changes
    /// nothing: the base's configuration gates the change as always.
    #[arg(long)]
    pub(super) adopting: bool,
    /// Per explored service (a rule with `explore: true`): start no experiment after this
    /// long; what is left is listed as unexplored.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub(super) explore_budget: std::time::Duration,
    /// Recorded results of the base's experiments, in DIR (outside the checkout): an
    /// experiment recorded for the base's tree is not run there again, unless the change
    /// does worse than the record or shares a failure with it (then the base runs, with this
    /// run's seed). Point it at a store only the protected branch's runs write, such as the
    /// CI cache.
    #[arg(long, value_name = "DIR")]
    pub(super) base_results: Option<PathBuf>,
    /// Record every experiment's outcome on the head into --base-results, for the changes
    /// that will be based on it: for the gate of the protected branch, never a pull request's.
    #[arg(long, requires = "base_results")]
    pub(super) record_base_results: bool,
}

pub(super) fn exec(dir: &std::path::Path, args: GateArgs) -> miette::Result<i32> {
    use faultline::gate::{GateRequest, gate};
    use faultline::outcome::GateReport;

    let seed = args.seed.unwrap_or_else(clock_seed);
    // Where the reports go: outside the checkout (a change could commit forged reports into
    // it) and writable, checked before anything runs.
    if let Some(report_dir) = &args.report {
        // Not a repository: nothing to write into; the gate says so in its verdict.
        let checkout = faultline::repo::Repo::discover(dir).map(|r| r.root().to_path_buf()).ok();
        let checked = checkout
            .map_or(Ok(()), |root| faultline::report::outside_checkout(report_dir, &root))
            .and_then(|()| faultline::report::check_report_dir(report_dir));
        if let Err(e) = checked {
            eprintln!("{:?}", miette::Report::new(e));
            return Ok(exit::UNVERIFIED);
        }
    }
    // From here on every way out writes verdict.json, with its reason.
    let report_dir = args.report.as_deref();
    let ci = match ci_inputs(args.labels) {
        Ok(ci) => ci,
        Err(e) => {
            eprintln!("faultline gate: {e}");
            return Ok(finish(report_dir, &GateReport::could_not_verify(seed, args.partition, e.to_string())));
        }
    };
    let event = ci.revisions;
    let Some(base) = args.base.clone().or_else(|| event.as_ref().and_then(|e| e.default_base())) else {
        eprintln!(
            "faultline gate: no --base, and no pull request event names one: pass the branch the change goes \
             into, e.g. --base origin/main"
        );
        return Ok(exit::UNVERIFIED);
    };
    let head =
        args.head.clone().or_else(|| event.as_ref().and_then(|e| e.default_head())).unwrap_or_else(|| "HEAD".into());
    let req = GateRequest {
        plan: PlanRequest {
            change: ChangeSpec::Revisions { base: base.clone(), head: head.clone() },
            config_from: ConfigFrom::Base,
            labels: ci.labels,
            author: ci.author,
            event,
            protected_base: true,
            codeowners_host: ci.code_host,
        },
        approved_by: args.approved_by,
        accept_difference: args.accept_difference,
        code_host: ci.host,
        seed,
        timeout: args.timeout,
        ready_timeout: args.ready_timeout,
        jobs: args.jobs,
        prepare_env: prepare_env(&args.prepare_env),
        partition: args.partition,
        only: None,
        fresh_stacks: args.fresh_stacks,
        stacks_ahead: args.stacks_ahead,
        explore_budget: args.explore_budget,
        base_results: args.base_results,
        record_base_results: args.record_base_results,
    };
    if args.adopting
        && let Some(report) = adopting(dir, &req)
    {
        return Ok(finish(report_dir, &report));
    }
    eprintln!("faultline gate: {base}...{head}, seed {seed}");
    let repo_dir = dir.to_path_buf();
    let listener = Listener::new();
    let run = async {
        use futures_util::FutureExt;
        Interrupt::new()
            .or_remove(None, std::panic::AssertUnwindSafe(gate(&repo_dir, &req, &listener)).catch_unwind())
            .await
    };
    let report = match runtime()?.block_on(run) {
        Some(Ok(report)) => report,
        Some(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            GateReport::could_not_verify(
                seed,
                args.partition,
                format!("faultline failed ({what}): the change is not verified"),
            )
        }
        None => GateReport::could_not_verify(
            seed,
            args.partition,
            "interrupted (Ctrl-C or SIGTERM) before a verdict: the change is not verified".into(),
        ),
    };
    print!("{}", faultline::report::outcome::render_decision(report.decision, &report.reasons));
    listener.finish(&report);
    Ok(finish(report_dir, &report))
}

/// Writes the reports into `dir` when given; the exit code of `report`'s decision, or could
/// not verify when they cannot be written.
fn finish(dir: Option<&std::path::Path>, report: &faultline::outcome::GateReport) -> i32 {
    if let Some(dir) = dir {
        match faultline::report::write_report(dir, report) {
            Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
            Err(e) => {
                eprintln!("{e}");
                return exit::UNVERIFIED;
            }
        }
    }
    report.decision.exit_code()
}

/// `--adopting` on a base without faultline.yaml: the head's plan shown, and a verdict that
/// enforces nothing (allow) when the head's configuration and scenarios are valid, could not
/// verify when not. `None`: the base has a configuration; gate as usual.
fn adopting(dir: &std::path::Path, req: &faultline::gate::GateRequest) -> Option<faultline::outcome::GateReport> {
    use faultline::outcome::{Decision, GateReport};
    let unverified = |reason: String| {
        eprintln!("faultline gate: {reason}");
        Some(GateReport::could_not_verify(req.seed, req.partition, reason))
    };
    let repo = match faultline::repo::Repo::discover(dir) {
        Ok(r) => r,
        Err(e) => return unverified(format!("--adopting: {e}")),
    };
    match faultline::plan::base_has_config(&repo, &req.plan.change) {
        Ok(true) => return None,
        Ok(false) => {}
        Err(e) => return unverified(format!("--adopting: {e}")),
    }
    // Only while the protected branch itself has no configuration: a base without one (an
    // old commit, a branch of one's own) cannot wave a change through once the branch has.
    let branch = match faultline::plan::base_branch(&repo, &req.plan) {
        Ok(b) => b,
        Err(e) => return unverified(format!("--adopting: {e}")),
    };
    if branch.has_config {
        return unverified(format!(
            "--adopting: `{}` has a {} since its tip {} ({}): a change into it is gated by that configuration, \
             and this base ({} commit{} behind) has none. Update the change onto `{}` and run again.",
            branch.branch,
            faultline::config::CONFIG_FILE,
            &branch.tip[..branch.tip.len().min(10)],
            branch.reference,
            branch.behind,
            if branch.behind == 1 { "" } else { "s" },
            branch.branch,
        ));
    }
    let head = PlanRequest { config_from: ConfigFrom::Head, ..req.plan.clone() };
    match faultline::plan::plan(&repo, &head) {
        Ok(plan) => {
            print!("{}", faultline::report::plan::render_text(&plan));
            let not_yet = "NOT ENFORCED YET: the base has no faultline.yaml. This change adopts faultline; once it is \
                           merged, every change is gated by the configuration above (read from the base). Make the \
                           check required after that.";
            println!("\n{not_yet}");
            let mut report = GateReport::could_not_verify(req.seed, req.partition, not_yet.to_owned());
            report.decision = Decision::Allow;
            Some(report)
        }
        Err(e) => {
            let reason = format!("--adopting: the configuration this change adds cannot gate anything yet: {e}");
            eprintln!("{:?}", miette::Report::new(e));
            eprintln!("faultline gate --adopting: the configuration this change adds cannot gate anything yet");
            Some(GateReport::could_not_verify(req.seed, req.partition, reason))
        }
    }
}

pub(super) fn repro(
    dir: &std::path::Path,
    verdict: &std::path::Path,
    scenarios: &[String],
    jobs: usize,
    keep: bool,
) -> miette::Result<i32> {
    if keep && scenarios.len() != 1 {
        return Err(miette::miette!("--keep keeps one stack: name one --scenario"));
    }
    let (_, original) = faultline::report::merge::read(verdict)?;
    let req = match faultline::repro::request(&original, scenarios, jobs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faultline repro: {e}");
            return Ok(exit::UNVERIFIED);
        }
    };
    eprintln!("faultline repro: {} scenario(s), seed {}", req.only.as_ref().map_or(0, Vec::len), req.seed);
    let dir = dir.to_path_buf();
    // One runtime for the run and for the kept stack: its proxies live on it.
    let rt = runtime()?;
    let result = rt.block_on(async {
        Interrupt::new()
            .or_remove(None, faultline::repro::run(&dir, &original, &req, keep, &super::session::progress))
            .await
    });
    let Some(result) = result else {
        return Ok(exit::UNVERIFIED);
    };
    if result.report.decision == faultline::outcome::Decision::Unverified && result.report.scenarios.is_empty() {
        eprintln!("faultline repro: could not run: {}", result.report.reasons.join("; "));
        return Ok(exit::UNVERIFIED);
    }
    print!("{}", faultline::repro::render(&result));
    let code = if result.reproduced() { exit::ALLOW } else { exit::BLOCK };
    if let Some(stack) = result.stack {
        for svc in stack.services().map(str::to_owned).collect::<Vec<_>>() {
            println!("  {svc:<16} {}", stack.addr(&svc)?);
        }
        println!("kept; Ctrl-C to stop and remove everything");
        rt.block_on(async {
            Interrupt::new().wait().await;
            stack.shutdown().await;
        });
    }
    Ok(code)
}

/// An `--accept-difference` value that names no difference.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a difference ID: `d-` and 10 hex digits, as the report prints it")]
pub(super) struct NotAnId(String);

/// `--accept-difference ID[=WHO]`: an ID as reports print it (`d-` and 10 hex digits).
pub(super) fn parse_accept(v: &str) -> Result<String, NotAnId> {
    let id = v.split_once('=').map_or(v, |(id, _)| id).trim();
    if faultline::verdict::accept::is_id(&id.to_ascii_lowercase()) {
        Ok(v.to_owned())
    } else {
        Err(NotAnId(id.to_owned()))
    }
}
