//! The `faultline` command line: one module per subcommand (its arguments and an `exec`),
//! `session` for what they share, and [`main`], which parses, dispatches and maps errors to
//! exit codes. The work itself is in the library.

mod explore;
mod gate;
mod plan;
mod proxy;
mod report;
mod run;
mod scenario;
mod session;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use faultline::exit;
use faultline::repo::Repo;
use report::ReportCmd;

/// faultline gates risky code changes: it finds the services a change can hurt, starts them
/// in real containers, breaks their dependencies on purpose, and lets the change merge only if
/// the system still behaves.
///
/// Exit codes: 0 allow, 1 block, 2 could not verify (which blocks too).
#[derive(Parser)]
#[command(name = "faultline", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// Run as if faultline was started in DIR (like `git -C`).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    dir: Option<PathBuf>,

    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a change affects and what the gate would run, without running anything.
    ///
    /// Reads faultline.yaml and the scenarios from the BASE revision, so a change cannot
    /// weaken the gate that judges it. Prints the changed paths (with renames), whether the
    /// change is AI-assisted and why, its risk tier and the path that decided it, the affected
    /// services with the chain of reasons, the stack to start, the scenarios the policy
    /// selects, and whether a senior must sign off.
    ///
    /// Examples:
    ///   faultline plan --base origin/main
    ///   faultline plan --base origin/main --format json
    ///   faultline plan --worktree
    ///   faultline -C path/to/repo plan --base main
    #[command(verbatim_doc_comment)]
    Plan(plan::PlanArgs),

    /// Gate three changes to the bundled example shop, to see what faultline does.
    ///
    /// Creates the shop's repository in a temporary directory (or --dir), commits on
    /// branches an AI-assisted bug (a fresh idempotency key per charge retry), an AI-assisted
    /// docs fix, and an AI-assisted bug no scenario of the shop catches (no deadline on Redis
    /// calls), and gates them for real: the first bug is blocked by a scenario, the docs fix
    /// allowed, the second bug blocked by exploration, which proposes the scenario it lacked.
    /// Needs Docker (run ci/bootstrap once). Exit 0 when every verdict is as expected.
    Demo {
        /// Where to create the shop repository (kept afterwards, to explore).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },

    /// Start services and everything they depend on, in containers, wired through the proxy.
    ///
    /// Reads faultline.yaml from the working tree (it is a local command). Builds what needs
    /// building, starts the services level by level, and prints how to reach each one and
    /// each dependency edge. Without --keep the stack is removed again right away (a check
    /// that it comes up); with --keep it runs until Ctrl-C.
    ///
    /// Examples:
    ///   faultline up                 # every service
    ///   faultline up orders --keep   # orders and what it depends on, until Ctrl-C
    #[command(verbatim_doc_comment)]
    Up(up::UpArgs),

    /// Remove containers and networks left behind by faultline runs that are gone.
    ///
    /// Everything faultline creates is labelled faultline.managed=true and
    /// faultline.run=<id>. gc removes the objects of runs whose process no longer exists
    /// (on this host); --all removes every faultline object, running or not. A network the
    /// engine will not remove because endpoints are still attached has them disconnected by
    /// force first. Whatever still cannot be removed is named with the engine's reason and
    /// what to do, and gc exits 1 while it remains.
    Gc {
        /// Remove everything labelled faultline.managed=true, even of live runs.
        #[arg(long, conflicts_with = "run")]
        all: bool,
        /// Remove the objects of this run only (its id, as `faultline.run=<id>`), live or not.
        #[arg(long, value_name = "ID")]
        run: Option<String>,
    },

    /// Gate a change: plan it, run the scenarios the policy selects, check sign-off, decide.
    ///
    /// Configuration and scenarios come from BASE (a change cannot weaken its own gate); the
    /// services are built from HEAD, exported to a temporary directory (your working tree is
    /// never touched). Exit 0 allow, 1 block (a scenario failed, or a required sign-off is
    /// missing), 2 could not verify (bad configuration, no Docker, a build failed, timeout),
    /// which blocks too.
    ///
    /// Examples:
    ///   faultline gate --base origin/main
    ///   faultline gate --base origin/main --label ai-assisted --approved-by alice@shop.example --report out/
    #[command(verbatim_doc_comment)]
    Gate(gate::GateArgs),

    /// Run again exactly what a gate ran, and say whether the result is the same.
    ///
    /// Reads the gate's verdict.json: the same head commit, faultline.yaml and scenarios from
    /// the same base commit, the same seed (so the same fault schedule), labels and
    /// approvals. Run it in a clone that has both commits. Exit 0 when every scenario came out
    /// the same, 1 when one did not, 2 when it could not run.
    ///
    /// Examples:
    ///   faultline repro out/verdict.json
    ///   faultline repro out/ --scenario charge-reply-lost
    #[command(verbatim_doc_comment)]
    Repro {
        /// The gate's verdict.json, or the report directory holding it.
        verdict: PathBuf,
        /// Only this scenario (repeatable); default: every scenario the gate ran.
        #[arg(long)]
        scenario: Vec<String>,
        /// Scenarios run at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Leave the scenario's stack running afterwards, until Ctrl-C (one --scenario).
        #[arg(long, requires = "scenario")]
        keep: bool,
    },

    /// Work with gate reports.
    #[command(subcommand)]
    Report(report::ReportCmd),

    /// Write, check and understand scenarios (no Docker needed).
    #[command(subcommand)]
    Scenario(scenario::ScenarioCmd),

    /// Write a starting faultline.yaml for this repository.
    ///
    /// From its docker-compose file if it has one (services, builds or images, ports,
    /// dependencies with URL guesses), otherwise from its Dockerfiles (one service each,
    /// ports from EXPOSE). Never overwrites an existing file; what it cannot know is TODO.
    Init,

    /// Run scenarios against the working tree: a fresh stack each, faults, workload, checks.
    ///
    /// Reads faultline.yaml and the scenarios from the working tree (for authoring and for
    /// reproducing what the gate saw). Exit 0 when every scenario passes, 1 when one fails,
    /// 2 when one could not run.
    ///
    /// Examples:
    ///   faultline run                                  # every scenario
    ///   faultline run --scenario payments-slow --seed 7
    #[command(verbatim_doc_comment)]
    Run(run::RunArgs),

    /// Search the fault space of a service: the failures nobody wrote a scenario for.
    ///
    /// Runs the service's workload (`explore.workloads` in faultline.yaml) once without
    /// faults, then under every fault of the catalogue on every edge it used — refused,
    /// slow past and under the deadline, errors, 429/503 with Retry-After, replies lost,
    /// resets, blackholes, pauses and restarts — one request at a time and 4 at once.
    /// Each experiment is judged by the workload's expectations, no crash, bounded
    /// attempts, recovery and `explore.invariants`. Reads the working tree. Exit 0 when
    /// every experiment passes, 1 when one fails, 2 when exploration could not judge.
    ///
    /// Examples:
    ///   faultline explore --service orders --budget 5m
    ///   faultline explore --write scenarios/    # a failed experiment becomes a scenario
    ///
    /// The fault classes, which `explore.classes` in faultline.yaml may narrow down:
    ///   on an edge:   down, slow-past-deadline, slow-under-deadline, unresponsive,
    ///                 errors-first, errors-first-502, errors-first-504, errors-first-500,
    ///                 errors-first-large, reset-first, dependency-errors (each dependency-404,
    ///                 … of an edge's `errors:` or its reference), throttled, unavailable,
    ///                 reply-lost, reset-mid-response, blackhole, outage, saturation,
    ///                 outage-sustained (refused until the edge was offered 10 times its
    ///                 reference's calls, at least 100), slow-under-client-deadline,
    ///                 slow-past-client-deadline (magnitudes of the client's own deadline,
    ///                 found by slow-past-deadline)
    ///   on a service: paused, restarted, lifecycle-start-while-down,
    ///                 lifecycle-stop-in-flight (stopped gracefully while requests wait)
    #[command(verbatim_doc_comment)]
    Explore(explore::ExploreArgs),

    /// Run one fault proxy in the foreground, to try a fault by hand against any service.
    ///
    /// Clients connect to --listen; traffic goes to --upstream through the faults given with
    /// --fault. With --http the proxy understands HTTP/1.1: it records every request and takes
    /// HTTP faults. Ctrl-C stops it and prints what crossed the edge.
    ///
    /// A fault is `key=value` pairs, the same keys as in scenario files:
    ///   --fault latency=300ms,jitter=50ms            slow replies
    ///   --fault latency=100ms,direction=upstream     slow requests (or direction=both)
    ///   --fault bandwidth=64                         64 KB/s
    ///   --fault timeout=5s | blackhole               pass nothing (close after 5 s | never)
    ///   --fault reset=0s,toxicity=0.3                reset 30% of connections
    ///   --fault slicer.average_size=16,slicer.delay=2ms
    ///   --fault limit_data=1024 | slow_close=1s | refuse
    ///   --fault http.status=503,http.first=2,http.path=/charges
    ///   --fault http.status=500,http.every=3 | http.status=503,http.percent=20
    ///   --fault http.delay=2s,http.method=POST | http.drop=reset,http.path=/charges
    #[command(verbatim_doc_comment)]
    Proxy(proxy::ProxyArgs),

    /// List the scenario templates that ship with faultline, with their parameters.
    ///
    /// A scenario uses one with `use: NAME` and fills its parameters under `with:`; its own
    /// faults, steps and checks are added after the template's.
    ///
    /// Examples:
    ///   faultline templates
    ///   faultline templates dependency-slow
    #[command(verbatim_doc_comment)]
    Templates {
        /// Show one template (default: all).
        name: Option<String>,
    },

    /// Print the JSON Schema of faultline.yaml or of scenario files (for your editor).
    Schema {
        /// Which file's schema.
        #[arg(value_enum, default_value = "config")]
        kind: SchemaKind,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// faultline.yaml
    Config,
    /// scenario files
    Scenario,
}

pub(super) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // In CI logs, long diagnostics stay on one line so they can be grepped and annotated.
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ =
        miette::set_hook(Box::new(move |_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(on_terminal).build())));
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(exit::UNVERIFIED as u8)
        }
    }
}

fn init_logging(verbose: u8) {
    // testcontainers' own errors about containers faultline is already removing (on Ctrl-C:
    // "Failed to remove container on drop … 409/404") are noise: faultline removes and
    // reports what it started itself. -vv shows them.
    let default = match verbose {
        0 => "warn,testcontainers=off",
        1 => "faultline=debug,testcontainers=off",
        _ => "faultline=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn run(cli: Cli) -> miette::Result<i32> {
    let dir = match cli.dir {
        Some(d) => d,
        None => std::env::current_dir().map_err(|e| miette::miette!("cannot read the current directory: {e}"))?,
    };
    match cli.command {
        Command::Plan(args) => plan::exec(&dir, args),
        Command::Demo { dir } => {
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("faultline-demo-{}", std::process::id())));
            eprintln!("faultline demo: creating the example shop in {}", dir.display());
            let demo = session::runtime()?.block_on(faultline::demo::run(&dir, 7, &session::progress))?;
            print!("{}", faultline::demo::render(&demo));
            let unverified = demo.changes.iter().any(|c| c.report.decision == faultline::outcome::Decision::Unverified);
            let as_expected = demo.changes.iter().all(|c| c.report.decision == c.expect);
            Ok(if unverified {
                exit::UNVERIFIED
            } else if as_expected {
                exit::ALLOW
            } else {
                exit::BLOCK
            })
        }
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Config => faultline::config::json_schema(),
                SchemaKind::Scenario => faultline::scenario::json_schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(exit::ALLOW)
        }
        Command::Templates { name } => scenario::templates(name.as_deref()),
        Command::Run(args) => run::exec(&dir, args),
        Command::Explore(args) => explore::exec(&dir, args),
        Command::Gate(args) => gate::exec(&dir, args),
        Command::Repro { verdict, scenario, jobs, keep } => gate::repro(&dir, &verdict, &scenario, jobs, keep),
        Command::Report(ReportCmd::Merge(args)) => report::merge(&dir, &args),
        Command::Scenario(cmd) => scenario::exec(&dir, cmd),
        Command::Init => {
            let root = Repo::discover(&dir).map(|r| r.root().to_path_buf()).unwrap_or_else(|_| dir.clone());
            let (path, text, pulls) = faultline::init::init(&root)?;
            print!("{text}");
            eprintln!("wrote {}", path.display());
            if !pulls.is_empty() {
                eprintln!(
                    "note: the Dockerfiles pull {} from a registry; on a machine with none, build {} locally first (docs/ci.md)",
                    pulls.join(", "),
                    if pulls.len() == 1 { "it" } else { "them" }
                );
            }
            match faultline::config::parse_bytes(
                "faultline.yaml",
                text.into_bytes(),
                faultline::config::ConfigOrigin::Worktree { path: path.display().to_string() },
            ) {
                Ok(_) => Ok(exit::ALLOW),
                Err(e) => {
                    eprintln!("{:?}", miette::Report::new(e));
                    eprintln!("fix the TODOs above, then `faultline up` to try the stack");
                    Ok(exit::ALLOW)
                }
            }
        }
        Command::Proxy(args) => proxy::exec(args),
        Command::Up(args) => up::exec(&dir, args),
        Command::Gc { all, run } => up::gc(all, run.as_deref()),
    }
}
