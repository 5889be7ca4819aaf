//! What every command shares: the runtime, Ctrl-C and SIGTERM, cleaning up after an
//! interrupted command, seeds, durations, CI inputs and GitHub's outputs.

pub(super) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the runtime: {e}"))
}

pub(super) use faultline::runner::supervise::remove_leftovers;

/// Ctrl-C and SIGTERM, listened for from the moment this is made (a signal that arrives
/// before the first wait is not lost, and does not kill the process).
pub(super) struct Interrupt {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    pub(super) fn new() -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt { int: signal(SignalKind::interrupt()).ok(), term: signal(SignalKind::terminate()).ok() }
    }

    pub(super) async fn wait(&mut self) {
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

impl Interrupt {
    /// `work`, or `None` when Ctrl-C or SIGTERM came first — after saying so and removing
    /// what was started (the objects of `run`, or every object of this process).
    pub(super) async fn or_remove<T>(
        &mut self,
        run: Option<&str>,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        use faultline::runner::supervise::{Ended, supervise};
        let interrupted = async {
            self.wait().await;
            eprintln!("interrupted: removing what was started");
        };
        match supervise(work, None, interrupted, run).await {
            Ended::Done(r) => Some(r),
            Ended::TimedOut | Ended::Interrupted => None,
        }
    }
}

/// A progress line of a long command, on stderr.
fn say(line: &str) {
    eprint!("{}{}", line, if line.ends_with('\n') { "" } else { "\n" });
}

/// The terminal's listener: each event's progress line on stderr; what happens inside a run
/// (faults, steps, checks) in the log, shown at `-v`.
pub(super) fn progress(event: &faultline::runner::event::Event<'_>) {
    if let Some(line) = faultline::report::progress::line(event) {
        say(&line);
    } else if let Some(detail) = faultline::report::progress::detail(event) {
        tracing::info!(target: "faultline::run", "{detail}");
    }
}

/// What `run` and `explore` run scenarios of the working tree with: repro lines name
/// `faultline -C ROOT run`, host commands get `--prepare-env`.
pub(super) fn worktree_options(
    repo: &faultline::repo::Repo,
    seed: u64,
    ready_timeout: std::time::Duration,
    prepare: &[String],
) -> faultline::stack::RunOptions {
    let mut opts = faultline::stack::RunOptions::new(
        seed,
        repo.root().to_path_buf(),
        ready_timeout,
        format!("faultline -C {} run", repo.root().display().to_string().trim_end_matches('/')),
    );
    opts.prepare_env = prepare_env(prepare);
    opts
}

pub(super) fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000)
        .unwrap_or(1)
}

/// A flag's value that is not a duration the gate takes.
#[derive(Debug, thiserror::Error)]
pub(super) enum DurationArgError {
    #[error("`{text}`: {error}")]
    NotADuration { text: String, error: humantime::DurationError },
    #[error("`{0}` is longer than a week; no gate needs that long")]
    TooLong(String),
}

pub(super) fn parse_duration(s: &str) -> Result<std::time::Duration, DurationArgError> {
    let d =
        humantime::parse_duration(s).map_err(|error| DurationArgError::NotADuration { text: s.to_owned(), error })?;
    if d > std::time::Duration::from_secs(7 * 24 * 60 * 60) {
        return Err(DurationArgError::TooLong(s.to_owned()));
    }
    Ok(d)
}

/// `--prepare-env` values: NAME=VALUE as given, NAME with the runner's value (skipped when
/// the runner has none).
pub(super) fn prepare_env(args: &[String]) -> Vec<(String, String)> {
    // Each value went through `parse_env_arg`: the name is a variable name.
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

/// A `--prepare-env` value whose name is not a variable name.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a variable name: write NAME or NAME=VALUE, e.g. CARGO_HOME")]
pub(super) struct EnvArgError(String);

/// Checks one `--prepare-env` value: `NAME` or `NAME=VALUE`, NAME of letters, digits and `_`.
pub(super) fn parse_env_arg(s: &str) -> Result<String, EnvArgError> {
    let name = s.split_once('=').map_or(s, |(k, _)| k);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(EnvArgError(name.to_owned()));
    }
    Ok(s.to_owned())
}

/// What CI hands the gate about the pull request: labels from `--label`, `FAULTLINE_LABELS`
/// and the code host's event (GitHub's event file, GitLab's variables), the author, and where
/// its approvals are read.
pub(super) struct CiInputs {
    pub(super) labels: Vec<String>,
    pub(super) author: Option<String>,
    pub(super) host: Option<faultline::codehost::HostRef>,
    /// The revisions the event names (base, head, branches).
    pub(super) revisions: Option<faultline::codehost::EventRevisions>,
    /// The code host of the CI the command runs in: whose CODEOWNERS rules apply.
    pub(super) code_host: Option<faultline::plan::CodeHost>,
}

/// [`CiInputs`] from the flags and the environment. An event file that cannot be read is an
/// error: the gate does not guess without it.
pub(super) fn ci_inputs(flags: Vec<String>) -> Result<CiInputs, faultline::codehost::CodeHostError> {
    let ctx = faultline::codehost::from_env(&faultline::codehost::process_env)?.unwrap_or_default();
    let mut labels = labels_with_env(flags);
    for l in ctx.labels {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    let ci = |k: &str| std::env::var(k).is_ok_and(|v| v == "true");
    let code_host = if ci("GITHUB_ACTIONS") {
        Some(faultline::plan::CodeHost::GitHub)
    } else if ci("GITLAB_CI") {
        Some(faultline::plan::CodeHost::GitLab)
    } else {
        None
    };
    Ok(CiInputs { labels, author: ctx.author, host: ctx.host, revisions: ctx.revisions, code_host })
}

pub(super) fn labels_with_env(labels: Vec<String>) -> Vec<String> {
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

/// Whether this runs in GitHub Actions (workflow commands on stdout are read there).
pub(super) fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Writes a workflow command on stdout.
pub(super) fn workflow_command(line: &str) {
    println!("{line}");
}

/// The listener of a gate: progress lines, and in GitHub Actions the annotations of failed
/// scenarios as they end (`finish` adds the changed files behind them).
pub(super) struct Listener {
    annotations: Option<faultline::report::annotate::Annotations<'static>>,
}

impl Listener {
    pub(super) fn new() -> Listener {
        Listener {
            annotations: in_github_actions().then(|| faultline::report::annotate::Annotations::new(&workflow_command)),
        }
    }

    /// Hears the events of a report that was not made here (`report merge`).
    pub(super) fn replay(&self, report: &faultline::outcome::GateReport) {
        if let Some(a) = &self.annotations {
            a.replay(report);
        }
    }

    /// The gate ended: the last annotations, and the summary appended to the job's summary.
    pub(super) fn finish(&self, report: &faultline::outcome::GateReport) {
        if let Some(a) = &self.annotations {
            a.finish();
        }
        step_summary(report);
    }
}

impl faultline::runner::event::Reporter for Listener {
    fn report(&self, event: &faultline::runner::event::Event<'_>) {
        progress(event);
        if let Some(a) = &self.annotations {
            a.report(event);
        }
    }
}

/// In GitHub Actions: the summary appended to the job's summary.
fn step_summary(report: &faultline::outcome::GateReport) {
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
