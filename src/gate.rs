//! The gate: every stage in order, from a change to a verdict.
//!
//! plan (configuration and scenarios from the base revision) → sign-off → the selected
//! scenarios, each on a fresh stack built from the head revision (exported to a temporary
//! directory, so the user's working tree is never touched) → verdict. Anything that stops the
//! gate from judging is a verdict of its own: could not verify, which blocks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::plan::{self, Plan, PlanRequest};
use crate::repo::Repo;
use crate::scenario::run::{RunOptions, run};
use crate::verdict::{self, Decision, ScenarioOutcome};

#[derive(Debug, Clone)]
pub struct GateRequest {
    pub plan: PlanRequest,
    /// Approvals handed in by CI (emails).
    pub approved_by: Vec<String>,
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
}

/// Share `index` (1-based) of `count`: the scenarios whose name hashes to it. A hash of the
/// name, not a position, so adding a scenario moves no other to another share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a partition: write K/N with 1 ≤ K ≤ N, e.g. 2/3");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// The share (1-based) a scenario belongs to, out of `count`.
    pub fn share_of(name: &str, count: u32) -> u32 {
        use sha2::Digest;
        let h = sha2::Sha256::digest(name.as_bytes());
        let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        1 + u32::try_from(n % u64::from(count.max(1))).unwrap_or(0)
    }

    pub fn contains(&self, name: &str) -> bool {
        Self::share_of(name, self.count) == self.index
    }
}

/// Who approved, and where it was said.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Approval {
    pub email: String,
    /// Where the approval came from: `--approved-by` (handed in by CI).
    pub source: String,
    pub senior: bool,
}

/// An approval written inside the change (a `Reviewed-by:` trailer): shown, never counted.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct IgnoredApproval {
    /// The trailer line as written.
    pub trailer: String,
    pub commit: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SignoffState {
    pub required: bool,
    pub seniors: Vec<String>,
    pub approvals: Vec<Approval>,
    pub satisfied: bool,
    /// Approvals the change wrote about itself, which do not count.
    #[serde(default)]
    pub ignored: Vec<IgnoredApproval>,
}

impl SignoffState {
    /// Whether a senior approved, from the approvals that count.
    pub fn recompute(&mut self) {
        let seniors: Vec<String> = self.seniors.iter().map(|s| s.to_ascii_lowercase()).collect();
        for a in &mut self.approvals {
            a.senior = seniors.contains(&a.email);
        }
        self.satisfied = !self.required || self.approvals.iter().any(|a| a.senior);
    }

    /// Why a missing sign-off is missing, for the verdict's reasons.
    pub fn missing_reason(&self) -> String {
        let mut s = if self.seniors.is_empty() {
            "a senior's sign-off is required and missing: policy.seniors lists nobody who could give it".to_owned()
        } else {
            format!(
                "a senior's sign-off is required and missing (one of {}, through --approved-by)",
                self.seniors.join(", ")
            )
        };
        if let Some(i) = self.ignored.first() {
            s.push_str(&format!("; ignored: `{}` in {} — {}", crate::report::plan::clean(&i.trailer), i.commit, i.why));
            if self.ignored.len() > 1 {
                s.push_str(&format!(" (and {} more)", self.ignored.len() - 1));
            }
        }
        s
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GateTimings {
    pub plan_seconds: f64,
    /// Exporting head, `prepare:` commands, the tests of `nextest` steps.
    pub build_seconds: f64,
    /// Checking images by tag and building missing ones.
    pub images_seconds: f64,
    /// Starting, running and removing the scenarios' stacks (wall clock, `--jobs` at once).
    pub scenarios_seconds: f64,
    /// Summed over scenarios: stacks starting, faults + steps + checks, stacks removed.
    pub stacks_seconds: f64,
    pub runs_seconds: f64,
    pub teardown_seconds: f64,
    pub total_seconds: f64,
}

/// Everything the gate found: `verdict.json` is this, serialised.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GateReport {
    pub version: u32,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub seed: u64,
    pub plan: Option<Plan>,
    pub signoff: Option<SignoffState>,
    pub scenarios: Vec<ScenarioOutcome>,
    pub timings: GateTimings,
    /// The share this gate ran (`--partition`); the plan lists every selected scenario.
    #[serde(default)]
    pub partition: Option<Partition>,
    /// The `prepare:` commands that ran on the host for this gate, with their output's end.
    #[serde(default)]
    pub prepare: Vec<crate::stack::CommandLog>,
}

impl GateReport {
    /// A report that has judged nothing yet: could not verify, until [`GateReport::decide`].
    fn new(seed: u64, partition: Option<Partition>) -> GateReport {
        GateReport {
            version: 1,
            decision: Decision::Unverified,
            reasons: Vec::new(),
            seed,
            plan: None,
            signoff: None,
            scenarios: Vec::new(),
            timings: GateTimings::default(),
            partition,
            prepare: Vec::new(),
        }
    }

    /// The gate could not judge: `reason` says why.
    fn unverified(mut self, reason: String, start: Instant) -> GateReport {
        self.decision = Decision::Unverified;
        self.reasons = vec![reason];
        self.scenarios = Vec::new();
        self.timings.total_seconds = start.elapsed().as_secs_f64();
        self
    }

    /// The verdict from the scenarios' outcomes and the sign-off.
    fn decide(mut self, outcomes: Vec<ScenarioOutcome>, start: Instant) -> GateReport {
        let missing = self.signoff.as_ref().filter(|s| !s.satisfied).map(SignoffState::missing_reason);
        let (decision, mut reasons) = verdict::decide(&outcomes, missing);
        if decision == Decision::Allow
            && outcomes.is_empty()
            && let Some(planned) = &self.plan
        {
            reasons.push(if planned.nothing_changed() {
                "nothing changed".into()
            } else {
                format!(
                    "no scenario selected ({}), no sign-off missing",
                    planned.gate.as_ref().map_or("no tier".into(), |g| format!(
                        "{}: scenarios {}",
                        g.source,
                        g.scenarios.as_str()
                    ))
                )
            });
        }
        self.decision = decision;
        self.reasons = reasons;
        self.scenarios = outcomes;
        self.timings.total_seconds = start.elapsed().as_secs_f64();
        self
    }
}

/// The email in `Name <email>`, or the text itself.
fn email_of(s: &str) -> String {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim().to_ascii_lowercase(),
        _ => s.trim().to_ascii_lowercase(),
    }
}

/// Trailer keys that claim an approval. In the change's own commits they prove nothing:
/// anyone can type them.
const APPROVAL_TRAILERS: &[&str] = &["reviewed-by", "approved-by", "acked-by"];

/// The sign-off state of `plan`: approvals only from `approved_by` (CI, the code host —
/// sources the change cannot write). Approval trailers in the change's commits are listed as
/// ignored.
pub fn signoff(plan: &Plan, approved_by: &[String]) -> SignoffState {
    let mut ignored = Vec::new();
    for c in &plan.commits {
        for (k, v) in &c.trailers {
            if APPROVAL_TRAILERS.iter().any(|a| k.trim().eq_ignore_ascii_case(a)) {
                ignored.push(IgnoredApproval {
                    trailer: format!("{k}: {v}"),
                    commit: c.id[..c.id.len().min(10)].to_owned(),
                    why: "written by the change itself; approvals count only from --approved-by (CI, the code host)"
                        .into(),
                });
            }
        }
    }
    let approvals = approved_by
        .iter()
        .map(|a| Approval { email: email_of(a), source: "--approved-by".into(), senior: false })
        .collect();
    let mut state = SignoffState {
        required: plan.signoff_required,
        seniors: plan.seniors.clone(),
        approvals,
        satisfied: false,
        ignored,
    };
    state.recompute();
    state
}

/// Writes the tree of `rev` into a fresh temporary directory (no index, no HEAD touched).
pub fn export(repo: &Repo, rev: &str) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::Builder::new()
        .prefix("faultline-head-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let oid = repo.resolve(rev).map_err(|e| e.to_string())?;
    let commit = repo.git().find_commit(oid).map_err(|e| e.to_string())?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.target_dir(dir.path()).force().update_index(false).recreate_missing(true);
    repo.git().checkout_tree(commit.as_object(), Some(&mut co)).map_err(|e| format!("cannot export {rev}: {e}"))?;
    Ok(dir)
}

/// Runs the gate. Never fails: what cannot be judged is a verdict.
pub async fn gate(repo_dir: &Path, req: &GateRequest, progress: &(dyn Fn(&str) + Sync)) -> GateReport {
    gate_keeping(repo_dir, req, false, progress).await.0
}

/// [`gate`], keeping the stack when exactly one scenario runs and `keep` is set (for
/// `repro --keep`): the caller removes it ([`crate::stack::Stack::shutdown`]).
pub async fn gate_keeping(
    repo_dir: &Path,
    req: &GateRequest,
    keep: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> (GateReport, Option<crate::stack::Stack>) {
    let kept = tokio::sync::Mutex::new(None);
    let report = gate_inner(repo_dir, req, keep, &kept, progress).await;
    (report, kept.into_inner())
}

async fn gate_inner(
    repo_dir: &Path,
    req: &GateRequest,
    keep: bool,
    kept: &tokio::sync::Mutex<Option<crate::stack::Stack>>,
    progress: &(dyn Fn(&str) + Sync),
) -> GateReport {
    let start = Instant::now();
    let mut report = GateReport::new(req.seed, req.partition);
    // Phase 1, plan: configuration and scenarios from the base, the change from git.
    let repo = match Repo::discover(repo_dir) {
        Ok(r) => r,
        Err(e) => return report.unverified(e.to_string(), start),
    };
    let planned = match plan::plan(&repo, &req.plan) {
        Ok(p) => p,
        Err(e) => return report.unverified(e.to_string() + &detail(&e), start),
    };
    report.timings.plan_seconds = start.elapsed().as_secs_f64();
    let sign = signoff(&planned, &req.approved_by);
    progress(&plan_line(&planned));
    report.plan = Some(planned);
    report.signoff = Some(sign);
    let planned = report.plan.as_ref().expect("set above");
    if planned.scenarios.is_empty() {
        return report.decide(Vec::new(), start);
    }

    // Phase 2, execute: head's code built and run under the deadline; every host command
    // killed and every stack removed when the deadline passes.
    let running = std::sync::Mutex::new(Vec::<String>::new());
    let mut timings = GateTimings { plan_seconds: report.timings.plan_seconds, ..GateTimings::default() };
    let prepare_logs = std::sync::Mutex::new(Vec::new());
    let work = execute(&repo, req, planned, keep, kept, progress, &running, &mut timings, &prepare_logs, start);
    let outcome = match req.timeout {
        Some(limit) => tokio::time::timeout(limit.saturating_sub(start.elapsed()), work).await.map_err(|_| limit),
        None => Ok(work.await),
    };
    report.prepare = std::mem::take(&mut *prepare_logs.lock().unwrap_or_else(|e| e.into_inner()));
    match outcome {
        Ok(Ok(outcomes)) => {
            report.timings = timings;
            report.decide(outcomes, start)
        }
        Ok(Err(reason)) => report.unverified(reason, start),
        Err(limit) => {
            let still = running.lock().unwrap_or_else(|e| e.into_inner()).join(", ");
            if let Ok(docker) = crate::stack::docker::client().await {
                let _ = crate::stack::docker::sweep(&docker, crate::stack::docker::Scope::Mine).await;
            }
            report.unverified(
                format!(
                    "the gate timed out after {} while running: {}",
                    humantime::format_duration(limit),
                    if still.is_empty() { "(between steps)".to_owned() } else { still }
                ),
                start,
            )
        }
    }
}

/// The one line of progress that says what the plan is.
fn plan_line(planned: &Plan) -> String {
    format!(
        "plan: tier {}, {}AI-assisted, {} affected, {} scenario{}{}",
        planned.tier.map_or("none".into(), |t| t.to_string()),
        if planned.ai_assisted { "" } else { "not " },
        planned.affected.len(),
        planned.scenarios.len(),
        if planned.scenarios.len() == 1 { "" } else { "s" },
        if planned.signoff_required { ", sign-off required" } else { "" }
    )
}

/// Builds head (prepare, images, tests of `nextest` steps) and runs the selected scenarios,
/// `--jobs` at once, the longest first. `Err` is why the gate could not verify.
#[allow(clippy::too_many_arguments)]
async fn execute(
    repo: &Repo,
    req: &GateRequest,
    planned: &Plan,
    keep: bool,
    kept: &tokio::sync::Mutex<Option<crate::stack::Stack>>,
    progress: &(dyn Fn(&str) + Sync),
    running: &std::sync::Mutex<Vec<String>>,
    timings: &mut GateTimings,
    prepare_logs: &std::sync::Mutex<Vec<crate::stack::CommandLog>>,
    start: Instant,
) -> Result<Vec<ScenarioOutcome>, String> {
    // Scenarios and configuration from the base revision; code from the head.
    let (loaded, snap) =
        plan::load_config(repo, &req.plan.change, req.plan.config_from).map_err(|e| e.to_string() + &detail(&e))?;
    let all = crate::scenario::load_all(repo, &snap, &loaded).map_err(|e| format!("{e}{}", detail(&e)))?;
    let selected: Vec<_> = all
        .into_iter()
        .filter(|s| planned.scenarios.contains(&s.name))
        .filter(|s| req.partition.is_none_or(|p| p.contains(&s.name)))
        .filter(|s| req.only.as_ref().is_none_or(|only| only.contains(&s.name)))
        .collect();
    if let Some(p) = req.partition {
        progress(&format!("partition {p}: {} of the {} selected scenarios", selected.len(), planned.scenarios.len()));
    }
    let head = match &req.plan.change {
        crate::change::ChangeSpec::Revisions { head, .. } => head.clone(),
        crate::change::ChangeSpec::Worktree { .. } => String::new(),
    };
    let exported;
    let root: PathBuf = if head.is_empty() {
        repo.root().to_path_buf()
    } else {
        exported = export(repo, &head)?;
        exported.path().to_path_buf()
    };
    let mut opts = RunOptions::for_gate(
        req.seed,
        root,
        req.ready_timeout,
        req.prepare_env.clone(),
        format!(
            "git checkout {} && faultline run",
            planned.head.as_ref().map_or(head.clone(), |h| h.commit[..h.commit.len().min(12)].to_owned())
        ),
    );
    opts.keep = keep && selected.len() == 1;
    let refs: Vec<_> = selected.iter().collect();
    running.lock().unwrap_or_else(|e| e.into_inner()).push("prepare (build of the change)".into());
    let p = crate::scenario::run::prepare_once(&refs, &loaded.config, &mut opts).await?;
    running.lock().unwrap_or_else(|e| e.into_inner()).clear();
    *prepare_logs.lock().unwrap_or_else(|e| e.into_inner()) = p.commands.clone();
    timings.images_seconds = p.images_seconds;
    timings.build_seconds = start.elapsed().as_secs_f64() - timings.plan_seconds - p.images_seconds;

    let t = Instant::now();
    // The longest first, each as soon as a slot is free: the least time with `--jobs` at once.
    let mut order: Vec<_> = selected.iter().collect();
    order.sort_by(|a, b| {
        crate::scenario::run::estimated(b).cmp(&crate::scenario::run::estimated(a)).then_with(|| a.name.cmp(&b.name))
    });
    let runs = futures_util::stream::iter(order.into_iter().map(|s| {
        let opts = &opts;
        let loaded = &loaded;
        async move {
            running.lock().unwrap_or_else(|e| e.into_inner()).push(s.name.clone());
            progress(&format!("running {} (target {})", s.name, s.target));
            let (o, stack) = run(s, &loaded.config, opts).await;
            if let Some(stack) = stack {
                *kept.lock().await = Some(stack);
            }
            running.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| n != &s.name);
            progress(&crate::report::verdict::render_outcome(&o));
            o
        }
    }));
    use futures_util::StreamExt;
    let mut outcomes = runs.buffer_unordered(req.jobs.max(1)).collect::<Vec<_>>().await;
    // Reports list scenarios by name, whatever order they ran in.
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    // Stacks removed in the background are gone before the gate answers.
    let background = match &opts.teardowns {
        Some(t) => crate::scenario::run::finish_teardowns(t).await,
        None => 0.0,
    };
    timings.scenarios_seconds = t.elapsed().as_secs_f64();
    timings.stacks_seconds = outcomes.iter().map(|o| o.stack_seconds).sum();
    timings.runs_seconds = outcomes.iter().map(|o| o.run_seconds).sum();
    timings.teardown_seconds = outcomes.iter().map(|o| o.teardown_seconds).sum::<f64>() + background;
    Ok(outcomes)
}

/// The located problems of a configuration error, one per line.
fn detail(e: &dyn miette::Diagnostic) -> String {
    let mut s = String::new();
    if let Some(related) = e.related() {
        for r in related {
            s.push_str(&format!("\n  {r}"));
        }
    }
    s
}

/// Checks that reports can be written into `dir` (created if needed), before a gate runs.
pub fn check_report_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the report directory {}: {e}", dir.display()))?;
    let probe = dir.join(".faultline-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write into the report directory {}: {e}", dir.display()))
}

/// Writes `verdict.json`, `junit.xml`, `summary.md` and `report.html` into `dir` (created if needed).
/// Returns the path of `verdict.json`.
pub fn write_report(dir: &Path, report: &GateReport) -> Result<PathBuf, String> {
    check_report_dir(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    for (name, text) in [
        ("verdict.json", json),
        ("junit.xml", crate::report::junit::render(report)),
        ("summary.md", crate::report::summary::render(report)),
        ("report.html", crate::report::html::render(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir.join("verdict.json"))
}

#[cfg(test)]
mod tests {
    use super::Partition;

    #[test]
    fn partitions_parse_and_shares_are_stable() {
        assert_eq!("2/3".parse::<Partition>(), Ok(Partition { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        let names: Vec<String> = (0..200).map(|i| format!("scenario-{i}")).collect();
        let shares: Vec<u32> = names.iter().map(|n| Partition::share_of(n, 4)).collect();
        assert!(shares.iter().all(|s| (1..=4).contains(s)));
        for k in 1..=4 {
            let n = shares.iter().filter(|s| **s == k).count();
            assert!((25..=75).contains(&n), "share {k} has {n} of 200");
        }
        // A share depends on the name only: the same name, the same share, whatever else exists.
        assert_eq!(Partition::share_of("payments-slow", 4), Partition::share_of("payments-slow", 4));
        let p = Partition { index: Partition::share_of("x", 3), count: 3 };
        assert!(p.contains("x"));
    }
}
