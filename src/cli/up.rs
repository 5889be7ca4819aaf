//! `faultline up` and `faultline gc`: stacks by hand.

use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::ConfigFrom;
use faultline::repo::Repo;

use super::session::{Interrupt, parse_duration, remove_leftovers, runtime};

#[derive(clap::Args)]
pub(super) struct UpArgs {
    /// Services to start (with what they depend on). Default: all.
    pub(super) services: Vec<String>,
    /// Keep the stack running until Ctrl-C.
    #[arg(long)]
    pub(super) keep: bool,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(super) ready_timeout: std::time::Duration,
    /// Seed of the edges' fault generators.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
}

pub(super) fn exec(dir: &std::path::Path, args: UpArgs) -> miette::Result<i32> {
    use faultline::config::ServiceGraph;
    use faultline::stack::{RunOptions, Stack, Start};

    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let config = &loaded.config;
    let levels = ServiceGraph::new(config).levels_for(&args.services).map_err(|e| miette::miette!("{e}"))?;
    let opts = RunOptions::new(args.seed, repo.root(), args.ready_timeout, String::new());
    let start = Start::new();
    let run = start.run_id.clone();
    eprintln!(
        "faultline up: run {run}, starting {}",
        levels.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join(" → ")
    );
    runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let Some(stack) = interrupt.or_remove(Some(&run), Stack::start(config, &levels, &opts, &start)).await else {
            return Ok(130);
        };
        let stack = match stack {
            Ok(s) => s,
            Err(e) => {
                remove_leftovers(Some(&run)).await;
                return Err(e.into());
            }
        };
        let t = &stack.timings;
        println!(
            "stack up in {:.1} s (images {:.1} s{}, start {:.1} s), run {}",
            (t.images + t.start).as_secs_f64(),
            t.images.as_secs_f64(),
            if t.built.is_empty() { String::new() } else { format!(", built {}", t.built.join(" ")) },
            t.start.as_secs_f64(),
            stack.run_id()
        );
        for s in stack.services().map(str::to_owned).collect::<Vec<_>>() {
            println!(
                "  {s:<16} {}   (ready in {:.1} s)",
                stack.addr(&s)?,
                t.services.get(&s).map_or(0.0, |d| d.as_secs_f64())
            );
        }
        for ((from, to), p) in stack.edges() {
            println!(
                "  edge {from} -> {to}  via {}",
                p.addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        if args.keep {
            println!("ready; Ctrl-C to stop and remove everything");
            interrupt.wait().await;
        }
        stack.shutdown().await;
        println!("removed");
        Ok::<_, miette::Report>(exit::ALLOW)
    })
}

pub(super) fn gc(all: bool, run: Option<&str>) -> miette::Result<i32> {
    use faultline::stack::docker::Scope;
    let scope = match (all, run) {
        (_, Some(run)) => Scope::Run(run),
        (true, None) => Scope::All,
        (false, None) => Scope::Dead,
    };
    runtime()?.block_on(async {
        let docker = faultline::stack::docker::client().await?;
        let swept = faultline::stack::docker::sweep(&docker, scope).await?;
        println!(
            "removed {} container{} and {} network{}{}{}",
            swept.containers,
            if swept.containers == 1 { "" } else { "s" },
            swept.networks,
            if swept.networks == 1 { "" } else { "s" },
            if swept.runs.is_empty() {
                String::new()
            } else {
                format!(" of run{} {}", if swept.runs.len() == 1 { "" } else { "s" }, swept.runs.join(", "))
            },
            match swept.disconnected {
                0 => String::new(),
                n => format!(", after disconnecting {n} endpoint{} still attached", if n == 1 { "" } else { "s" }),
            }
        );
        match faultline::stack::sandbox::sweep_cache(all) {
            Ok(0) => {}
            Ok(n) => println!("removed {n} build cache{} of runs that are gone", if n == 1 { "" } else { "s" }),
            Err(e) => eprintln!("cannot sweep the build cache: {e}"),
        }
        // What could not be removed is named, with why and what to do, and gc fails while
        // it remains.
        for left in &swept.left {
            eprintln!("{left}");
        }
        Ok(if swept.left.is_empty() { exit::ALLOW } else { exit::BLOCK })
    })
}
