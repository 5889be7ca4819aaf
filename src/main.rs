//! The `faultline` command: argument parsing and output only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::{ConfigFrom, PlanRequest};
use faultline::repo::Repo;

/// faultline gates risky code changes: it finds the services a change can hurt, starts them
/// in real containers, breaks their dependencies on purpose, and lets the change merge only if
/// the system still behaves.
///
/// Exit codes: 0 allow, 1 block, 2 could not verify (which blocks too).
#[derive(Parser)]
#[command(name = "faultline", version, propagate_version = true, max_term_width = 100)]
struct Cli {
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
    Plan(PlanArgs),

    /// Gate two changes to the bundled example shop, to see what faultline does.
    ///
    /// Creates the shop's repository in a temporary directory (or --dir), commits an
    /// AI-assisted bug (a fresh idempotency key per charge retry) and an AI-assisted docs fix
    /// on branches, and gates both for real: the bug must be blocked, the docs fix allowed.
    /// Needs Docker (run ci/bootstrap once). Exit 0 when both verdicts are as expected.
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
    Up(UpArgs),

    /// Remove containers and networks left behind by faultline runs that are gone.
    ///
    /// Everything faultline creates is labelled faultline.managed=true and
    /// faultline.run=<id>. gc removes the objects of runs whose process no longer exists
    /// (on this host); --all removes every faultline object, running or not.
    Gc {
        /// Remove everything labelled faultline.managed=true, even of live runs.
        #[arg(long)]
        all: bool,
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
    Gate(GateArgs),

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
    Report(ReportCmd),

    /// Write, check and understand scenarios (no Docker needed).
    #[command(subcommand)]
    Scenario(ScenarioCmd),

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
    Run(RunArgs),

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
    Proxy(ProxyArgs),

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

#[derive(clap::Args)]
struct PlanArgs {
    /// The branch the change goes into (`origin/main`). Compared through the merge base, like
    /// `git diff BASE...HEAD`. With --worktree it defaults to HEAD.
    #[arg(long, value_name = "REV", required_unless_present = "worktree")]
    base: Option<String>,

    /// The change's tip.
    #[arg(long, value_name = "REV", default_value = "HEAD", conflicts_with = "worktree")]
    head: String,

    /// Plan the uncommitted changes (untracked files included) against BASE (default HEAD).
    #[arg(long)]
    worktree: bool,

    /// Where to read faultline.yaml and scenarios: `base` (what the gate uses) or `worktree`
    /// (for authoring a configuration you have not committed yet).
    #[arg(long, value_enum, default_value = "base", value_name = "FROM")]
    config_from: ConfigSource,

    /// A CI label of the pull request (repeatable); `ai-assisted` marks the change
    /// AI-assisted. FAULTLINE_LABELS adds a comma-separated list.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(clap::Subcommand)]
enum ScenarioCmd {
    /// Write a commented scenario to start from, in the scenarios folder.
    ///
    /// Examples:
    ///   faultline scenario new payments-slow --target orders --template dependency-slow
    ///   faultline scenario new checkout-under-load --target orders
    #[command(verbatim_doc_comment)]
    New {
        name: String,
        /// The service it protects.
        #[arg(long)]
        target: String,
        /// Start from a template (`faultline templates` lists them).
        #[arg(long)]
        template: Option<String>,
    },
    /// Check scenario files against faultline.yaml of the working tree, as the gate will:
    /// every problem with its file, line and column. Default: every scenario.
    Lint { files: Vec<PathBuf> },
    /// Say what a scenario would do: the stack it starts, which edges and services get which
    /// faults when, the steps, and what it checks.
    Explain { name: String },
}

#[derive(clap::Subcommand)]
enum ReportCmd {
    /// One verdict from the reports of a gate's shards (`gate --partition K/N`).
    ///
    /// Checks that every shard is of the same gate (base and head commits, number of
    /// shares); a missing shard makes the verdict "could not verify". Writes verdict.json,
    /// junit.xml and summary.md into --out; exits with the merged verdict's code.
    ///
    /// Example:
    ///   faultline report merge shard-1 shard-2 shard-3 --out report
    #[command(verbatim_doc_comment)]
    Merge {
        /// The shards' report directories (or their verdict.json).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where the merged reports go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct GateArgs {
    /// The branch the change goes into.
    #[arg(long, value_name = "REV")]
    base: String,
    /// The change's tip.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    head: String,
    /// A CI label (repeatable); FAULTLINE_LABELS adds a comma-separated list.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// An approval handed in by CI (repeatable), matched against policy.seniors.
    #[arg(long = "approved-by", value_name = "EMAIL")]
    approved_by: Vec<String>,
    /// Write verdict.json (and later the other reports) into DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Bound the whole gate, builds of the change included; hitting it means "could not
    /// verify", and every command and container the gate started is stopped.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<std::time::Duration>,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Hand a variable to the change's code on the host (`prepare:`, nextest builds, host
    /// `exec` steps): NAME passes the runner's value, NAME=VALUE sets one (repeatable). Only
    /// PATH, HOME, the toolchain's variables and these reach it; never the runner's secrets.
    #[arg(long = "prepare-env", value_name = "NAME[=VALUE]")]
    prepare_env: Vec<String>,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    ready_timeout: std::time::Duration,
    /// Run share K of N of the selected scenarios (by a hash of their names), for several
    /// runners; `faultline report merge` makes one verdict of the shards' reports.
    #[arg(long, value_name = "K/N")]
    partition: Option<faultline::gate::Partition>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Run only this scenario (repeatable). Default: all.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the last scenario's stack running after its checks, until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    ready_timeout: std::time::Duration,
    /// Hand a variable to `prepare:` commands and other host commands: NAME passes your
    /// value, NAME=VALUE sets one (repeatable).
    #[arg(long = "prepare-env", value_name = "NAME[=VALUE]")]
    prepare_env: Vec<String>,
}

#[derive(clap::Args)]
struct UpArgs {
    /// Services to start (with what they depend on). Default: all.
    services: Vec<String>,
    /// Keep the stack running until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Readiness timeout per service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    ready_timeout: std::time::Duration,
    /// Seed of the edges' fault generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))
}

#[derive(clap::Args)]
struct ProxyArgs {
    /// Where clients connect, e.g. 127.0.0.1:9000 (port 0: pick one).
    #[arg(long, value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// The service behind the proxy, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    upstream: String,
    /// Understand HTTP/1.1: record requests, allow http.* faults.
    #[arg(long)]
    http: bool,
    /// A fault, as key=value pairs (repeatable). See above.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Headers that identify a request across retries.
    #[arg(long = "request-id-header", value_name = "NAME", default_values = ["Idempotency-Key", "X-Request-Id"])]
    request_id_headers: Vec<String>,
    /// Also write the observations as JSON to FILE on exit.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConfigSource {
    Base,
    Worktree,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

// The plan of a large change allocates hundreds of thousands of small paths and YAML nodes;
// mimalloc measured ~10% faster than glibc's allocator on the plan benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
    let default = match verbose {
        0 => "warn",
        1 => "faultline=debug",
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
        Command::Plan(args) => plan(&dir, args),
        Command::Demo { dir } => {
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("faultline-demo-{}", std::process::id())));
            eprintln!("faultline demo: creating the example shop in {}", dir.display());
            let progress = |line: &str| eprint!("{}{}", line, if line.ends_with('\n') { "" } else { "\n" });
            let demo = runtime()?.block_on(faultline::demo::run(&dir, 7, &progress))?;
            print!("{}", faultline::demo::render(&demo));
            let unverified = demo.changes.iter().any(|c| c.report.decision == faultline::verdict::Decision::Unverified);
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
        Command::Templates { name } => templates(name.as_deref()),
        Command::Run(args) => run_scenarios(&dir, args),
        Command::Gate(args) => gate(&dir, args),
        Command::Repro { verdict, scenario, jobs, keep } => repro(&dir, &verdict, &scenario, jobs, keep),
        Command::Report(ReportCmd::Merge { shards, out }) => merge(&shards, &out),
        Command::Scenario(cmd) => scenario_cmd(&dir, cmd),
        Command::Init => {
            let root = Repo::discover(&dir).map(|r| r.root().to_path_buf()).unwrap_or_else(|_| dir.clone());
            let (path, text) = faultline::init::init(&root)?;
            print!("{text}");
            eprintln!("wrote {}", path.display());
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
        Command::Proxy(args) => proxy(args),
        Command::Up(args) => up(&dir, args),
        Command::Gc { all } => gc(all),
    }
}

fn plan(dir: &std::path::Path, args: PlanArgs) -> miette::Result<i32> {
    let repo = Repo::discover(dir)?;
    let change = if args.worktree {
        ChangeSpec::Worktree { base: args.base.unwrap_or_else(|| "HEAD".to_owned()) }
    } else {
        // clap guarantees --base without --worktree.
        ChangeSpec::Revisions { base: args.base.unwrap_or_default(), head: args.head }
    };
    let labels = labels_with_env(args.labels);
    let req = PlanRequest {
        change,
        config_from: match args.config_from {
            ConfigSource::Base => ConfigFrom::Base,
            ConfigSource::Worktree => ConfigFrom::Worktree,
        },
        labels,
    };
    let plan = faultline::plan::plan(&repo, &req)?;
    match args.format {
        Format::Text => print!("{}", faultline::report::plan::render_text(&plan)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan).map_err(|e| miette::miette!("{e}"))?),
    }
    Ok(exit::ALLOW)
}

fn proxy(args: ProxyArgs) -> miette::Result<i32> {
    use faultline::fault::{FaultSpec, Proxy, ProxyConfig};
    use std::net::ToSocketAddrs;

    let upstream = args
        .upstream
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| miette::miette!("--upstream {}: not an address (write HOST:PORT)", args.upstream))?;
    let mut faults = Vec::new();
    for (i, f) in args.faults.iter().enumerate() {
        let spec = FaultSpec::parse_compact(f).map_err(|e| miette::miette!("--fault {f}: {e}"))?;
        let name = format!("fault-{}", i + 1);
        spec.validate().map_err(|e| miette::miette!("--fault {f}: {e}"))?;
        faults.push((name, f.clone(), spec));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| miette::miette!("{e}"))?;
    rt.block_on(async move {
        let mut cfg = ProxyConfig::new(format!("{} -> {upstream}", args.listen), upstream, seed);
        cfg.listen = vec![args.listen];
        cfg.http = args.http;
        cfg.request_id_headers = args.request_id_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        let mut interrupt = Interrupt::new();
        let p = Proxy::start(cfg).await?;
        for (name, text, spec) in &faults {
            p.add_spec(name, spec)?;
            eprintln!("fault {name}: {text}");
        }
        eprintln!(
            "faultline proxy: {} -> {upstream}{}, seed {seed} (--seed {seed} repeats these faults); Ctrl-C to stop",
            p.addr(),
            if args.http { " (HTTP)" } else { "" }
        );
        interrupt.wait().await;
        let obs = p.observations();
        eprintln!("{}", faultline::report::edge::render_text(&obs));
        if let Some(path) = &args.report {
            let json = serde_json::to_string_pretty(&obs).map_err(|e| miette::miette!("{e}"))?;
            std::fs::write(path, json).map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
            eprintln!("observations written to {}", path.display());
        }
        p.shutdown().await;
        Ok::<_, miette::Report>(exit::ALLOW)
    })
}

fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the runtime: {e}"))
}

/// Removes what an interrupted or failed command started: one run's objects, or every
/// object this process made. (Its watchdogs would also remove them once it exits.)
async fn remove_leftovers(run: Option<&str>) {
    use faultline::stack::docker::{Scope, client, sweep};
    if let Ok(docker) = client().await {
        let _ = sweep(&docker, run.map_or(Scope::Mine, Scope::Run)).await;
    }
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made (a signal that arrives
/// before the first wait is not lost, and does not kill the process).
struct Interrupt {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    fn new() -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt { int: signal(SignalKind::interrupt()).ok(), term: signal(SignalKind::terminate()).ok() }
    }

    async fn wait(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.int) => {}
            _ = one(&mut self.term) => {}
        }
    }
}

fn up(dir: &std::path::Path, args: UpArgs) -> miette::Result<i32> {
    use faultline::impact::ServiceGraph;
    use faultline::stack::{Stack, StackOptions};

    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let config = &loaded.config;
    let graph = ServiceGraph::new(config);
    let mut wanted = vec![args.services.is_empty(); graph.len()];
    for s in &args.services {
        let i = graph.index(s).ok_or_else(|| {
            let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
            miette::miette!("`{s}` is not a service of faultline.yaml (services: {})", names.join(", "))
        })?;
        wanted[i] = true;
    }
    let levels = graph.start_levels(&graph.forward_closure(&wanted));
    let mut opts = StackOptions::new(repo.root(), args.seed);
    opts.ready_timeout = args.ready_timeout;
    let run = opts.run_id.clone();
    eprintln!(
        "faultline up: run {run}, starting {}",
        levels.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join(" → ")
    );
    runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let stack = tokio::select! {
            s = Stack::start(config, &levels, &opts) => s,
            _ = interrupt.wait() => {
                eprintln!("interrupted: removing what was started");
                remove_leftovers(Some(&run)).await;
                return Ok(130);
            }
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

fn gc(all: bool) -> miette::Result<i32> {
    runtime()?.block_on(async {
        let docker = faultline::stack::docker::client().await?;
        let swept = faultline::stack::docker::sweep(
            &docker,
            if all { faultline::stack::docker::Scope::All } else { faultline::stack::docker::Scope::Dead },
        )
        .await?;
        println!(
            "removed {} container{} and {} network{}{}",
            swept.containers,
            if swept.containers == 1 { "" } else { "s" },
            swept.networks,
            if swept.networks == 1 { "" } else { "s" },
            if swept.runs.is_empty() {
                String::new()
            } else {
                format!(" of run{} {}", if swept.runs.len() == 1 { "" } else { "s" }, swept.runs.join(", "))
            }
        );
        Ok(exit::ALLOW)
    })
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000)
        .unwrap_or(1)
}

fn run_scenarios(dir: &std::path::Path, args: RunArgs) -> miette::Result<i32> {
    use faultline::repo::Snapshot;
    use faultline::scenario::run::{RunOptions, run};

    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let all = faultline::scenario::load_all(&repo, &Snapshot::Worktree, &loaded).map_err(miette::Report::new)?;
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    for wanted in &args.scenarios {
        if !names.contains(&wanted.as_str()) {
            return Err(miette::miette!("no scenario named `{wanted}` (scenarios: {})", names.join(", ")));
        }
    }
    let selected: Vec<_> =
        all.iter().filter(|s| args.scenarios.is_empty() || args.scenarios.contains(&s.name)).collect();
    let seed = args.seed.unwrap_or_else(clock_seed);
    eprintln!("faultline run: {} scenario{}, seed {seed}", selected.len(), if selected.len() == 1 { "" } else { "s" });
    let mut opts = RunOptions::new(
        seed,
        repo.root().to_path_buf(),
        args.ready_timeout,
        format!("faultline -C {} run", repo.root().display().to_string().trim_end_matches('/')),
    );
    opts.prepare_env = prepare_env(&args.prepare_env);
    let config = &loaded.config;
    runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let mut opts = opts;
        if let Err(e) = faultline::scenario::run::prepare_once(&selected, config, &mut opts).await {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
        let mut outcomes = Vec::new();
        for (i, s) in selected.iter().enumerate() {
            let keep = args.keep && i + 1 == selected.len();
            let o = RunOptions { keep, ..opts.clone() };
            let (outcome, stack) = tokio::select! {
                r = run(s, config, &o) => r,
                _ = interrupt.wait() => {
                    eprintln!("interrupted: removing what was started");
                    remove_leftovers(None).await;
                    return Ok(130);
                }
            };
            print!("{}", faultline::report::verdict::render_outcome(&outcome));
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
        print!("{}", faultline::report::verdict::render_decision(decision, &reasons));
        Ok::<_, miette::Report>(decision.exit_code())
    })
}

/// `--prepare-env` values: NAME=VALUE as given, NAME with the runner's value (skipped when
/// the runner has none).
fn prepare_env(args: &[String]) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

fn labels_with_env(labels: Vec<String>) -> Vec<String> {
    // `--label "bug,ai-assisted"` is two labels, as CI joins them.
    let env = std::env::var("FAULTLINE_LABELS").unwrap_or_default();
    labels
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(env.as_str()))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn gate(dir: &std::path::Path, args: GateArgs) -> miette::Result<i32> {
    use faultline::gate::{GateRequest, gate, write_report};

    let seed = args.seed.unwrap_or_else(clock_seed);
    let req = GateRequest {
        plan: PlanRequest {
            change: ChangeSpec::Revisions { base: args.base.clone(), head: args.head.clone() },
            config_from: ConfigFrom::Base,
            labels: labels_with_env(args.labels),
        },
        approved_by: args.approved_by,
        seed,
        timeout: args.timeout,
        ready_timeout: args.ready_timeout,
        jobs: args.jobs,
        prepare_env: prepare_env(&args.prepare_env),
        partition: args.partition,
        only: None,
    };
    if let Some(dir) = &args.report
        && let Err(e) = faultline::gate::check_report_dir(dir)
    {
        eprintln!("faultline gate: {e}");
        return Ok(exit::UNVERIFIED);
    }
    eprintln!("faultline gate: {}...{}, seed {seed}", args.base, args.head);
    let dir = dir.to_path_buf();
    let report = runtime()?.block_on(async move {
        let mut interrupt = Interrupt::new();
        let progress = |line: &str| eprint!("{}{}", line, if line.ends_with('\n') { "" } else { "\n" });
        tokio::select! {
            r = gate(&dir, &req, &progress) => Some(r),
            _ = interrupt.wait() => None,
        }
    });
    let Some(report) = report else {
        eprintln!("interrupted: removing what was started; the change is not verified");
        runtime()?.block_on(remove_leftovers(None));
        return Ok(exit::UNVERIFIED);
    };
    print!("{}", faultline::report::verdict::render_decision(report.decision, &report.reasons));
    github(&report);
    if let Some(dir) = &args.report {
        match write_report(dir, &report) {
            Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
            Err(e) => {
                eprintln!("{e}");
                return Ok(exit::UNVERIFIED);
            }
        }
    }
    Ok(report.decision.exit_code())
}

fn repro(
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
        let mut interrupt = Interrupt::new();
        let progress = |line: &str| eprint!("{}{}", line, if line.ends_with('\n') { "" } else { "\n" });
        tokio::select! {
            r = faultline::repro::run(&dir, &original, &req, keep, &progress) => Some(r),
            _ = interrupt.wait() => None,
        }
    });
    let Some(result) = result else {
        eprintln!("interrupted: removing what was started");
        runtime()?.block_on(remove_leftovers(None));
        return Ok(exit::UNVERIFIED);
    };
    if result.report.decision == faultline::verdict::Decision::Unverified && result.report.scenarios.is_empty() {
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

fn scenario_cmd(dir: &std::path::Path, cmd: ScenarioCmd) -> miette::Result<i32> {
    use faultline::repo::Snapshot;
    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let config = &loaded.config;
    match cmd {
        ScenarioCmd::New { name, target, template } => {
            let folder = repo.root().join(config.scenarios.trim_end_matches('/'));
            let path = folder.join(format!("{name}.yaml"));
            let text = faultline::scenario::author::new_scenario(&name, &target, template.as_deref(), config)
                .map_err(|e| miette::miette!("{e}"))?;
            std::fs::create_dir_all(&folder).map_err(|e| miette::miette!("cannot create {}: {e}", folder.display()))?;
            let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(text.as_bytes())
            });
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(miette::miette!("{} exists; pick another name (nothing was written)", path.display()));
                }
                Err(e) => return Err(miette::miette!("cannot write {}: {e}", path.display())),
            }
            print!("{text}");
            eprintln!("wrote {}; fill in the TODOs, then `faultline scenario lint`", path.display());
            Ok(exit::ALLOW)
        }
        ScenarioCmd::Lint { files } => {
            let files: Vec<(String, String)> = if files.is_empty() {
                repo.list(&Snapshot::Worktree, &config.scenarios, &[".yaml", ".yml"])
                    .map_err(miette::Report::new)?
                    .into_iter()
                    .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
                    .collect()
            } else {
                let mut out = Vec::new();
                for f in files {
                    let text =
                        std::fs::read_to_string(&f).map_err(|e| miette::miette!("cannot read {}: {e}", f.display()))?;
                    let rel = std::fs::canonicalize(&f)
                        .ok()
                        .and_then(|a| a.strip_prefix(repo.root()).ok().map(|p| p.display().to_string()))
                        .unwrap_or_else(|| f.display().to_string());
                    out.push((rel, text));
                }
                out
            };
            let mut bad = 0;
            for (file, text) in &files {
                match faultline::scenario::parse(file, text.clone(), config) {
                    Ok(s) => {
                        println!(
                            "ok   {file} ({}: {} faults, {} steps, {} checks)",
                            s.name,
                            s.faults.len(),
                            s.steps.len(),
                            s.checks.len()
                        );
                        if text.contains("TODO") {
                            println!("     warning: {file} still says TODO");
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{:?}", miette::Report::new(e));
                    }
                }
            }
            println!("{} of {} scenario files valid", files.len() - bad, files.len());
            Ok(if bad == 0 { exit::ALLOW } else { exit::UNVERIFIED })
        }
        ScenarioCmd::Explain { name } => {
            let all =
                faultline::scenario::load_all(&repo, &Snapshot::Worktree, &loaded).map_err(miette::Report::new)?;
            let Some(s) = all.iter().find(|s| s.name == name) else {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                return Err(miette::miette!("no scenario named `{name}` (scenarios: {})", names.join(", ")));
            };
            print!("{}", faultline::scenario::author::explain(s, config));
            Ok(exit::ALLOW)
        }
    }
}

fn merge(shards: &[PathBuf], out: &std::path::Path) -> miette::Result<i32> {
    let mut reports = Vec::new();
    for s in shards {
        reports.push(faultline::report::merge::read(s)?);
    }
    let merged = faultline::report::merge::merge(reports)?;
    print!("{}", faultline::report::verdict::render_decision(merged.decision, &merged.reasons));
    github(&merged);
    match faultline::gate::write_report(out, &merged) {
        Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
    }
    Ok(merged.decision.exit_code())
}

/// In GitHub Actions: annotations on stdout, the summary appended to the job's summary.
fn github(report: &faultline::gate::GateReport) {
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        for line in faultline::report::summary::annotations(report) {
            println!("{line}");
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let text = faultline::report::summary::render(report);
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot append to GITHUB_STEP_SUMMARY ({}): {e}", std::path::Path::new(&path).display());
        }
    }
}

fn templates(name: Option<&str>) -> Result<i32, miette::Report> {
    use faultline::scenario::template;
    let all = template::builtin();
    let shown: Vec<_> = match name {
        None => all.iter().collect(),
        Some(n) => match template::find(n) {
            Some(t) => vec![t],
            None => {
                let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
                return Err(miette::miette!("`{n}` is not a template; templates: {}", names.join(", ")));
            }
        },
    };
    for t in shown {
        println!("{}\n  {}\n", t.name, textwrap_indent(&t.description, "  "));
        for (p, d) in &t.params {
            let default = match &d.default {
                None => "required".to_owned(),
                Some(serde_json::Value::Null) => "optional".to_owned(),
                Some(v) => format!("default {v}"),
            };
            let kind =
                serde_json::to_value(d.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            println!("  {p:<18} {kind:<9} {default:<16} {}", d.doc);
        }
        println!();
    }
    Ok(exit::ALLOW)
}

fn textwrap_indent(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for word in text.split_whitespace() {
        if width > 0 && width + word.len() > 86 {
            out.push('\n');
            out.push_str(indent);
            width = 0;
        } else if width > 0 {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += word.len();
    }
    out
}
