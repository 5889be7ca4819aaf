//! `faultline run`: scenarios against the working tree.

use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::ConfigFrom;
use faultline::repo::Repo;

use super::session::{Interrupt, clock_seed, parse_duration, runtime, worktree_options};

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// Run only this scenario (repeatable). Default: all.
    #[arg(long = "scenario", value_name = "NAME")]
    pub(super) scenarios: Vec<String>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Keep the last scenario's stack running after its checks, until Ctrl-C.
    #[arg(long)]
    pub(super) keep: bool,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(super) ready_timeout: std::time::Duration,
    /// Write verdict.json, junit.xml, summary.md and report.html (the timeline of every
    /// scenario) into DIR, as the gate does.
    #[arg(long, value_name = "DIR")]
    pub(super) report: Option<std::path::PathBuf>,
    /// Hand a variable to `prepare:` commands and other host commands: NAME passes your
    /// value, NAME=VALUE sets one (repeatable).
    #[arg(long = "prepare-env", value_name = "NAME[=VALUE]", value_parser = super::session::parse_env_arg)]
    pub(super) prepare_env: Vec<String>,
}

pub(super) fn exec(dir: &std::path::Path, args: RunArgs) -> miette::Result<i32> {
    use faultline::repo::Snapshot;
    use faultline::runner::run_reporting;
    use faultline::stack::RunOptions;

    if let Some(dir) = &args.report {
        faultline::report::check_report_dir(dir).map_err(|e| miette::miette!("{e}"))?;
    }
    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let (all, problems) =
        faultline::scenario::load_each(&repo, &Snapshot::Worktree, &loaded).map_err(miette::Report::new)?;
    // Every scenario must be valid to run them all; naming some, the others may be broken
    // (you are fixing one of them, say): they are only mentioned.
    if !problems.is_empty() {
        if args.scenarios.is_empty() {
            return Err(miette::Report::new(faultline::scenario::invalid(&loaded, problems)));
        }
        let files: std::collections::BTreeSet<&str> = problems.iter().map(|p| p.file.as_str()).collect();
        eprintln!(
            "warning: skipping {} invalid scenario file{} ({}); `faultline scenario lint` says what is wrong",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            files.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let selected: Vec<_> = faultline::scenario::select(&all, &args.scenarios)
        .map_err(|e| miette::miette!("{e}"))?
        .into_iter()
        .cloned()
        .collect();
    let exec = faultline::plan::Executable::of_worktree(&repo, loaded, selected, &[]);
    let selected: Vec<_> = exec.scenarios.iter().collect();
    let seed = args.seed.unwrap_or_else(clock_seed);
    eprintln!("faultline run: {} scenario{}, seed {seed}", selected.len(), if selected.len() == 1 { "" } else { "s" });
    let opts = worktree_options(&repo, seed, args.ready_timeout, &args.prepare_env);
    let config = &exec.config.config;
    runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let mut opts = opts;
        let commands = faultline::runner::prepare_commands(&selected, config);
        super::session::progress(&faultline::runner::event::Event::Preparing(&commands));
        if let Err(e) = faultline::runner::prepare_once(&selected, config, &mut opts).await {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
        let mut outcomes = Vec::new();
        for (i, s) in selected.iter().enumerate() {
            let keep = args.keep && i + 1 == selected.len();
            let o = RunOptions { keep, ..opts.clone() };
            let Some((outcome, stack)) =
                interrupt.or_remove(None, run_reporting(s, config, &o, &super::session::progress)).await
            else {
                return Ok(130);
            };
            print!("{}", faultline::report::outcome::render_outcome(&outcome));
            outcomes.push(outcome);
            if let Some(stack) = stack {
                for svc in stack.services().map(str::to_owned).collect::<Vec<_>>() {
                    println!("  {svc:<16} {}", stack.addr(&svc)?);
                }
                println!("kept; Ctrl-C to stop and remove everything");
                interrupt.wait().await;
                stack.shutdown().await;
            }
        }
        let (decision, reasons) = faultline::verdict::decide(&outcomes, None);
        print!("{}", faultline::report::outcome::render_decision(decision, &reasons));
        if let Some(dir) = &args.report {
            let report = faultline::outcome::GateReport::of_run(seed, decision, reasons, outcomes);
            match faultline::report::write_report(dir, &report) {
                Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(exit::UNVERIFIED);
                }
            }
        }
        Ok::<_, miette::Report>(decision.exit_code())
    })
}
