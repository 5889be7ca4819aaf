//! Stage 3, plan: from a change to what the gate will do — the stack to start, the scenarios
//! to run, and whether a senior must sign off. Configuration and scenarios come from the
//! base revision unless the caller asks for the working tree.

use miette::Diagnostic;
use serde::Serialize;

use crate::change::{
    self, Change, ChangeSpec, ChangedPath, CommitInfo, Evidence, RepoPath, Resolved, RevRef, TierDecision,
};
use crate::config::{
    self, CONFIG_FILE, ConfigError, ConfigOrigin, GateRule, LoadedConfig, PartialExploration, ScenarioSelection,
    Signoff, Tier, Unexercised,
};
use crate::dockerignore::DockerIgnore;
use crate::impact::{self, Affected, Impact};
use crate::repo::{Oid, Repo, RepoError, Snapshot};
use crate::scenario::{self, DiscoverError, ScenarioRef};

mod base;
mod executable;
mod owners;
pub use base::BaseBranch;
pub use executable::{Code, Executable, ExploreTarget, ExploreTargetError, Planned};
pub use owners::{CodeHost, CodeownersRead, CodeownersText, MAX_CODEOWNERS_BYTES, SignoffArea};

/// Where to read faultline.yaml and the scenarios from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigFrom {
    /// The base revision: what the gate uses, so a change cannot weaken its own gate.
    #[default]
    Base,
    /// The files on disk, for authoring a configuration before committing it.
    Worktree,
    /// The head revision: only to show what a change that adopts faultline would gate once
    /// merged (`gate --adopting`); never to judge a change.
    Head,
}

#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub change: ChangeSpec,
    pub config_from: ConfigFrom,
    /// Labels handed in by CI (`--label`, `FAULTLINE_LABELS`, the code host's event).
    pub labels: Vec<String>,
    /// Who opened the pull request (`@login`), from the code host's event: evidence of an
    /// agent when it is one.
    pub author: Option<String>,
    /// The revisions the code host's event names (`gate` in CI): the resolved ones must agree
    /// with them, and the default branch comes from them. `None` outside CI and for `plan`.
    pub event: Option<crate::codehost::EventRevisions>,
    /// Judge only against a base on a branch `policy.base_branches` lists (`gate`); `plan`
    /// and `repro` show any revisions.
    pub protected_base: bool,
    /// The code host of the CI the plan is made in (`GITHUB_ACTIONS`, `GITLAB_CI`): whose
    /// CODEOWNERS rules apply. `None`: from the base's CI configuration.
    pub codeowners_host: Option<CodeHost>,
}

/// What planning takes besides the change, the configuration and the scenarios.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanInputs<'a> {
    pub labels: &'a [String],
    pub author: Option<&'a str>,
    /// The base's CODEOWNERS, when `policy.codeowners` reads it.
    pub codeowners: Option<CodeownersText<'a>>,
    /// The `.dockerignore` of each build context (by its directory, as in
    /// `Matchers::contexts`) in the code that is built: a changed file it leaves out of the
    /// context cannot reach the image. [`dockerignores`] reads them.
    pub ignores: &'a [(String, DockerIgnore)],
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum PlanError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "the gate must run scenarios ({rule}: scenarios {selection}), but the scenarios directory `{dir}` at the base revision holds no scenario file"
    )]
    #[diagnostic(
        code(faultline::plan::no_scenarios),
        help(
            "a missing or empty scenarios directory would let every change through: check `scenarios:` in \
             faultline.yaml (a typo?), commit the scenario files (*.yaml, *.yml) to the base branch, or set \
             the policy of this tier to `scenarios: none` if this tier really needs none"
        )
    )]
    NoScenarios { dir: String, rule: String, selection: &'static str },
    #[error("the base `{rev}` is commit {commit}, but the {origin} names {event} ({field})")]
    #[diagnostic(
        code(faultline::plan::event_disagrees),
        help(
            "--base must resolve to the event's base commit or to a later commit of the same branch (one that \
             contains it). Leave --base out in CI: the gate then takes the event's. If the event's commit is \
             missing, fetch the history (`fetch-depth: 0`, `GIT_DEPTH: 0`)."
        )
    )]
    BaseDisagrees { rev: String, commit: String, origin: &'static str, field: &'static str, event: String },
    #[error("the head `{rev}` is commit {commit}, but the {origin} names {event} ({field})")]
    #[diagnostic(
        code(faultline::plan::event_disagrees),
        help(
            "--head must resolve to the pull request's head commit, or to the code host's test merge of it. \
             Leave --head out in CI: the gate then takes the event's."
        )
    )]
    HeadDisagrees { rev: String, commit: String, origin: &'static str, field: &'static str, event: String },
    #[error(
        "the base `{rev}` ({commit}) is not on a branch a change may be judged against: {branches} (from {listed_by})"
    )]
    #[diagnostic(code(faultline::plan::unprotected_base), help("{help}"))]
    UnprotectedBase { rev: String, commit: String, branches: String, listed_by: String, help: String },
    #[error("cannot tell the repository's default branch, so not which branches a change may be judged against")]
    #[diagnostic(code(faultline::plan::no_default_branch), help("{help}"))]
    NoDefaultBranch { help: String },
    #[error("cannot make a temporary directory: {0}")]
    #[diagnostic(code(faultline::plan::tempdir))]
    TempDir(#[source] std::io::Error),
    #[error("cannot export {rev}: {source}")]
    #[diagnostic(code(faultline::plan::export))]
    Export { rev: String, source: git2::Error },
}

impl From<DiscoverError> for PlanError {
    fn from(e: DiscoverError) -> Self {
        match e {
            DiscoverError::Repo(e) => PlanError::Repo(e),
            DiscoverError::Invalid(e) => PlanError::Config(e),
        }
    }
}

/// The gate rule that applies, and which key of the policy it came from.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AppliedRule {
    /// `policy.ai_gate.high`, `policy.gate.low`, or `default` when neither is set.
    pub source: String,
    pub scenarios: ScenarioSelection,
    pub signoff: Signoff,
    /// Whether the affected services with a workload are explored after the scenarios.
    #[serde(default)]
    pub explore: bool,
    /// What an edge exploration never exercised does to the verdict (`unexercised:` of the
    /// rule; the stricter of the tier's and `policy.unclaimed`'s when that widens it).
    #[serde(default)]
    pub unexercised: Unexercised,
    /// What experiments the budget left unrun on the edges of a touched service do to the
    /// verdict (`partial_exploration:` of the rule; the stricter of the tier's and
    /// `policy.unclaimed`'s when that widens it).
    #[serde(default)]
    pub partial_exploration: PartialExploration,
}

/// Everything the later stages need, and everything `faultline plan` shows. Field names are
/// the JSON contract of `faultline plan --format json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Plan {
    pub base: RevRef,
    /// `None` when the change is the working tree.
    pub head: Option<RevRef>,
    pub merge_base: String,
    pub config: ConfigOrigin,
    pub changed: Vec<ChangedPath>,
    pub commits: Vec<CommitInfo>,
    pub ai_assisted: bool,
    pub ai_evidence: Vec<Evidence>,
    /// Which rule decided `ai_assisted`: `policy.ai_assisted.assume` (every change counts as
    /// AI-assisted), `evidence` (what `ai_evidence` lists) or `no evidence`.
    #[serde(default)]
    pub ai_rule: String,
    /// `None` when nothing changed.
    pub tier: Option<Tier>,
    pub tier_reason: Option<TierDecision>,
    pub affected: Vec<Affected>,
    /// Services to start, in start order.
    pub stack: Vec<String>,
    /// The same services in levels that start together.
    pub stack_levels: Vec<Vec<String>>,
    pub gate: Option<AppliedRule>,
    /// Names of the selected scenarios.
    pub scenarios: Vec<String>,
    pub scenario_files: Vec<ScenarioRef>,
    /// Every scenario the configuration knows, selected or not.
    pub scenarios_available: usize,
    pub signoff_required: bool,
    pub seniors: Vec<String>,
    /// Who may sign off for which changed paths (`policy.owners`, CODEOWNERS); one area,
    /// `policy.seniors`, without them.
    #[serde(default)]
    pub signoff_areas: Vec<SignoffArea>,
    /// The CODEOWNERS read (`policy.codeowners`), whose rules read it and why, and the lines
    /// its host skips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codeowners: Option<CodeownersRead>,
    /// Changed paths nothing claims (see `policy.unclaimed`).
    #[serde(default)]
    pub unclaimed: Vec<RepoPath>,
    /// Changed paths of the gate itself or of the build of everything (see `policy.protected`).
    #[serde(default)]
    pub protected: Vec<RepoPath>,
    /// The protected branch the base is on (`policy.base_branches`), when the gate checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<BaseBranch>,
    /// Affected services the gate explores after the scenarios (the rule says `explore` and
    /// they have a workload in `explore.workloads`).
    #[serde(default)]
    pub explore: Vec<String>,
}

impl Plan {
    pub(crate) fn nothing_changed(&self) -> bool {
        self.changed.is_empty()
    }
}

/// Loads the configuration `from` says, for the base revision of `spec`.
pub fn load_config(repo: &Repo, spec: &ChangeSpec, from: ConfigFrom) -> Result<(LoadedConfig, Snapshot), PlanError> {
    let at = match (from, spec) {
        (ConfigFrom::Worktree, _) | (ConfigFrom::Head, ChangeSpec::Worktree { .. }) => None,
        (ConfigFrom::Head, ChangeSpec::Revisions { head, .. }) => Some((head.clone(), repo.resolve(head)?)),
        (ConfigFrom::Base, _) => Some((spec.base().to_owned(), repo.resolve(spec.base())?)),
    };
    load_config_at(repo, at.as_ref())
}

/// Loads the configuration of the commit `at`, or of the working tree when `None`.
fn load_config_at(repo: &Repo, at: Option<&(String, Oid)>) -> Result<(LoadedConfig, Snapshot), PlanError> {
    let (snap, origin) = config_snapshot(repo, at);
    let bytes = repo.read(&snap, CONFIG_FILE, config::MAX_CONFIG_BYTES)?.ok_or_else(|| ConfigError::Missing {
        place: match &snap {
            Snapshot::Commit { rev, .. } => format!("the base revision `{rev}`"),
            Snapshot::Worktree => format!("{}", repo.root().display()),
        },
    })?;
    let loaded = config::parse_bytes(CONFIG_FILE, bytes, origin.clone()).map_err(|e| match e {
        ConfigError::Invalid { problems, .. } => ConfigError::Invalid { file: origin.to_string(), problems },
        other => other,
    })?;
    Ok((loaded, snap))
}

/// Where the configuration is read from: the commit `at`, or the working tree.
fn config_snapshot(repo: &Repo, at: Option<&(String, Oid)>) -> (Snapshot, ConfigOrigin) {
    match at {
        Some((rev, oid)) => {
            let origin = ConfigOrigin::Revision { rev: rev.clone(), commit: oid.to_string() };
            (Snapshot::Commit { rev: rev.clone(), oid: *oid }, origin)
        }
        None => {
            let path = repo.root().join(CONFIG_FILE).display().to_string();
            (Snapshot::Worktree, ConfigOrigin::Worktree { path })
        }
    }
}

/// Whether the base revision of `spec` has a faultline.yaml.
pub fn base_has_config(repo: &Repo, spec: &ChangeSpec) -> Result<bool, PlanError> {
    let base = (spec.base().to_owned(), repo.resolve(spec.base())?);
    let (snap, _) = config_snapshot(repo, Some(&base));
    Ok(repo.read(&snap, CONFIG_FILE, config::MAX_CONFIG_BYTES)?.is_some())
}

/// The protected branch the base of `req` is on (`policy.base_branches`), after checking the
/// revisions against the event: what `gate --adopting` asks before trusting the head's
/// configuration (it applies only while that branch has no faultline.yaml).
pub fn base_branch(repo: &Repo, req: &PlanRequest) -> Result<BaseBranch, PlanError> {
    let base = (req.change.base().to_owned(), repo.resolve(req.change.base())?);
    if let Some(event) = &req.event {
        let head = match &req.change {
            ChangeSpec::Revisions { head, .. } => Some((head.clone(), repo.resolve(head)?)),
            ChangeSpec::Worktree { .. } => None,
        };
        base::agree(repo, &base, head.as_ref(), event)?;
    }
    base::protected(repo, &base, req.event.as_ref())
}

/// Plans the change `req` names.
pub fn plan(repo: &Repo, req: &PlanRequest) -> Result<Plan, PlanError> {
    Ok(planned(repo, req)?.plan)
}

/// Plans the change `req` names, keeping what the plan was made from, so the gate can
/// turn it into what it executes ([`Planned::executable`]) without reading git or YAML
/// again. Each revision is resolved once.
pub fn planned(repo: &Repo, req: &PlanRequest) -> Result<Planned, PlanError> {
    let t = std::time::Instant::now();
    let base = (req.change.base().to_owned(), repo.resolve(req.change.base())?);
    let revs = match &req.change {
        ChangeSpec::Revisions { head, .. } => {
            repo.resolve(head).map(|oid| Resolved { base: base.clone(), head: Some((head.clone(), oid)) })
        }
        ChangeSpec::Worktree { .. } => Ok(Resolved { base: base.clone(), head: None }),
    };
    // What the gate trusts comes first: revisions the event disagrees with, or a base off
    // the protected branches, are never planned at all.
    if let Some(event) = &req.event {
        base::agree(repo, &base, revs.as_ref().ok().and_then(|r| r.head.as_ref()), event)?;
    }
    let base_branch = if req.protected_base { Some(base::protected(repo, &base, req.event.as_ref())?) } else { None };
    let at = match (req.config_from, &revs) {
        (ConfigFrom::Base, _) => Some(base),
        (ConfigFrom::Head, Ok(r)) => r.head.clone(),
        (ConfigFrom::Head, Err(_)) => return Err(revs.expect_err("matched an error").into()),
        (ConfigFrom::Worktree, _) => None,
    };
    // The diff and the configuration are independent: one on each core.
    let other = repo.reopen()?;
    let (change, loaded) = std::thread::scope(|s| {
        let diff = s.spawn(move || {
            let revs = revs?;
            let change = change::analyze(&other, &revs);
            tracing::debug!(elapsed = ?t.elapsed(), "change analysed");
            Ok::<_, RepoError>((change?, revs))
        });
        let loaded = load_planning_inputs(repo, at.as_ref(), t);
        let change = diff.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (change, loaded)
    });
    // A configuration problem is reported before a diff problem: it is the user's to fix first.
    let (config, scenarios, snap, config_digest) = loaded?;
    let (change, revs) = change?;
    let codeowners =
        if config.config.policy.codeowners { read_codeowners(repo, &snap, req.codeowners_host)? } else { None };
    let ignores = dockerignores(repo, &revs, &config)?;
    let inputs = PlanInputs {
        ignores: &ignores,
        labels: &req.labels,
        author: req.author.as_deref(),
        codeowners: codeowners.as_ref().map(|c| CodeownersText {
            path: c.path,
            text: &c.text,
            host: c.host,
            host_from: &c.host_from,
        }),
    };
    let plan = Plan { base_branch, ..from_parts(change, &config, scenarios, inputs)? };
    tracing::debug!(elapsed = ?t.elapsed(), "planned");
    Ok(Planned { plan, config, snap, revs, config_digest })
}

/// The `.dockerignore` of every build context in the code that is built (the head, or the
/// working tree), read bounded ([`crate::dockerignore::MAX_BYTES`]; a bigger one, or a link,
/// is an error naming it). A change to one makes its service affected anyway: it is always
/// part of the context.
fn dockerignores(
    repo: &Repo,
    revs: &Resolved,
    config: &LoadedConfig,
) -> Result<Vec<(String, DockerIgnore)>, PlanError> {
    let snap = match &revs.head {
        Some((rev, oid)) => Snapshot::Commit { rev: rev.clone(), oid: *oid },
        None => Snapshot::Worktree,
    };
    let mut out: Vec<(String, DockerIgnore)> = Vec::new();
    for (dir, _) in &config.matchers.contexts {
        if out.iter().any(|(d, _)| d == dir) {
            continue;
        }
        let file = if dir.is_empty() { ".dockerignore".to_owned() } else { format!("{dir}/.dockerignore") };
        if let Some(bytes) = repo.read(&snap, &file, crate::dockerignore::MAX_BYTES)? {
            out.push((dir.clone(), DockerIgnore::parse(&String::from_utf8_lossy(&bytes))));
        }
    }
    Ok(out)
}

/// The configuration, the scenarios' names and targets, and the digest of both, from where
/// `from` says.
fn load_planning_inputs(
    repo: &Repo,
    at: Option<&(String, Oid)>,
    t: std::time::Instant,
) -> Result<(LoadedConfig, Vec<ScenarioRef>, Snapshot, String), PlanError> {
    let (config, snap) = load_config_at(repo, at)?;
    tracing::debug!(elapsed = ?t.elapsed(), services = config.config.services.len(), "configuration loaded");
    let files = repo.list(&snap, &config.config.scenarios, scenario::EXTENSIONS, scenario::MAX_SCENARIO_BYTES)?;
    let digest = config_digest(&config, &files);
    let scenarios = scenario::discover_files(files, &config)?;
    tracing::debug!(elapsed = ?t.elapsed(), scenarios = scenarios.len(), "scenarios discovered");
    Ok((config, scenarios, snap, digest))
}

/// SHA-256 (hex) of faultline.yaml and every scenario file (`(path, bytes)`, sorted by path):
/// what binds a report to the configuration it was judged by (`RunBinding::config_digest`).
/// Each part is its name, a NUL, its length (8 bytes, big-endian) and its bytes, so no two
/// sets of files give the same input.
pub fn config_digest(config: &LoadedConfig, scenario_files: &[(String, Vec<u8>)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut part = |name: &str, bytes: &[u8]| {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(bytes);
    };
    part(CONFIG_FILE, config.source.text.as_bytes());
    for (path, bytes) in scenario_files {
        part(path, bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a report of a gate of `base` (and `head`) must be bound to: the commits' object ids
/// and the digest of the base's configuration and scenarios. For `report merge --base
/// --head`, which checks the shards against the run it is told about.
pub fn expected_run(
    repo: &Repo,
    base: &str,
    head: Option<&str>,
) -> Result<(String, Option<String>, String), PlanError> {
    let at = (base.to_owned(), repo.resolve(base)?);
    let head = head.map(|h| repo.resolve(h)).transpose()?.map(|oid| oid.to_string());
    let (config, snap) = load_config_at(repo, Some(&at))?;
    let files = repo.list(&snap, &config.config.scenarios, scenario::EXTENSIONS, scenario::MAX_SCENARIO_BYTES)?;
    Ok((at.1.to_string(), head, config_digest(&config, &files)))
}

/// A CODEOWNERS file as read from the configuration's revision.
struct Codeowners {
    path: &'static str,
    text: String,
    host: CodeHost,
    host_from: String,
}

/// The CODEOWNERS its code host uses: the first of the host's places that exists in the
/// configuration's revision. The host is the CI's (`ci`), else GitLab when the revision has a
/// `.gitlab-ci.yml`, else GitHub. A file over GitHub's limit (3 MB) is refused on either host:
/// nobody could say who must approve from it.
fn read_codeowners(repo: &Repo, snap: &Snapshot, ci: Option<CodeHost>) -> Result<Option<Codeowners>, PlanError> {
    let (host, host_from) = match ci {
        Some(CodeHost::GitHub) => (CodeHost::GitHub, "the CI environment (GITHUB_ACTIONS=true)".to_owned()),
        Some(CodeHost::GitLab) => (CodeHost::GitLab, "the CI environment (GITLAB_CI=true)".to_owned()),
        None if repo.read(snap, ".gitlab-ci.yml", config::MAX_CODEOWNERS_BYTES)?.is_some() => {
            (CodeHost::GitLab, "the configuration's revision has a .gitlab-ci.yml".to_owned())
        }
        None => (CodeHost::GitHub, "the default (no CI variables, no .gitlab-ci.yml)".to_owned()),
    };
    for path in host.codeowners_paths() {
        // A file over GitHub's limit is refused by the read (could not verify): faultline
        // cannot say who must approve from a file it does not read whole.
        let Some(bytes) = repo.read(snap, path, config::MAX_CODEOWNERS_BYTES)? else { continue };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return Ok(Some(Codeowners { path, text, host, host_from }));
    }
    Ok(None)
}

/// The pure part of planning, from an analysed change, a configuration and its scenarios.
pub fn from_parts(
    change: Change,
    config: &LoadedConfig,
    all: Vec<ScenarioRef>,
    inputs: PlanInputs<'_>,
) -> Result<Plan, PlanError> {
    let prov = change::provenance::provenance(&change, config, inputs.labels, inputs.author);
    let (owner_rules, codeowners) = owners::rules(&config.config, inputs.codeowners);
    let signoff_areas = owners::areas(&change.paths, &owner_rules, &config.config.policy.seniors);
    let tier = change::tier::decide(&change, config);
    let impact = impact::analyze(&change, config, inputs.ignores).map_err(|problems| ConfigError::Invalid {
        file: config.origin.to_string(),
        problems: config::capped(problems),
    })?;
    let gate = tier
        .as_ref()
        .map(|t| applied_rule(config, t.tier, prov.ai_assisted, impact.unclaimed.len(), impact.protected.len()));
    if let Some(g) = &gate
        && g.scenarios != ScenarioSelection::None
        && all.is_empty()
    {
        return Err(PlanError::NoScenarios {
            dir: config.config.scenarios.clone(),
            rule: g.source.clone(),
            selection: g.scenarios.as_str(),
        });
    }
    let selected: Vec<ScenarioRef> = match gate.as_ref().map(|g| g.scenarios) {
        Some(ScenarioSelection::All) => all.clone(),
        Some(ScenarioSelection::Affected) => all.iter().filter(|s| impact.is_affected(&s.target)).cloned().collect(),
        Some(ScenarioSelection::None) | None => Vec::new(),
    };
    let explore: Vec<String> = match &gate {
        Some(g) if g.explore => impact
            .affected
            .iter()
            .map(|a| a.service.clone())
            .filter(|s| config.config.explore.workloads.contains_key(s))
            .collect(),
        _ => Vec::new(),
    };
    let Impact { affected, stack, levels, unclaimed, protected } = impact;
    Ok(Plan {
        base: change.base,
        head: change.head,
        merge_base: change.merge_base,
        config: config.origin.clone(),
        changed: change.paths,
        commits: change.commits,
        ai_assisted: prov.ai_assisted,
        ai_evidence: prov.evidence,
        ai_rule: prov.rule,
        tier: tier.as_ref().map(|t| t.tier),
        tier_reason: tier,
        affected,
        stack,
        stack_levels: levels,
        signoff_required: gate.as_ref().is_some_and(|g| g.signoff == Signoff::Seniors),
        gate,
        scenarios: selected.iter().map(|s| s.name.clone()).collect(),
        scenario_files: selected,
        scenarios_available: all.len(),
        seniors: config.config.policy.seniors.clone(),
        signoff_areas,
        codeowners,
        unclaimed,
        protected,
        base_branch: None,
        explore,
    })
}

/// `policy.ai_gate.<tier>` for an AI-assisted change when set, else `policy.gate.<tier>`,
/// else the default (affected scenarios, no sign-off); widened by `policy.unclaimed` when a
/// path nothing claims changed, and by a senior's sign-off when a protected path changed.
fn applied_rule(config: &LoadedConfig, tier: Tier, ai: bool, unclaimed: usize, protected: usize) -> AppliedRule {
    let p = &config.config.policy;
    let (mut source, mut rule) = match (ai.then(|| p.ai_gate.get(tier)).flatten(), p.gate.get(tier)) {
        (Some(r), _) => (format!("policy.ai_gate.{tier}"), *r),
        (None, Some(r)) => (format!("policy.gate.{tier}"), *r),
        (None, None) => ("default".to_owned(), GateRule::default()),
    };
    if unclaimed > 0 {
        let u = p.unclaimed_rule();
        rule.scenarios = widest(rule.scenarios, u.scenarios);
        rule.explore |= u.explore;
        rule.unexercised = rule.unexercised.max(u.unexercised);
        rule.partial_exploration = rule.partial_exploration.min(u.partial_exploration);
        if u.signoff == Signoff::Seniors {
            rule.signoff = Signoff::Seniors;
        }
        let s = if unclaimed == 1 { "" } else { "s" };
        source.push_str(&format!(
            " + policy.unclaimed{} ({unclaimed} unclaimed path{s})",
            if p.unclaimed.is_none() { " default" } else { "" }
        ));
    }
    if protected > 0 {
        rule.signoff = Signoff::Seniors;
        let s = if protected == 1 { "" } else { "s" };
        source.push_str(&format!(" + {protected} protected path{s} (sign-off)"));
    }
    AppliedRule {
        source,
        scenarios: rule.scenarios,
        signoff: rule.signoff,
        explore: rule.explore,
        unexercised: rule.unexercised,
        partial_exploration: rule.partial_exploration,
    }
}

/// The selection that runs more.
fn widest(a: ScenarioSelection, b: ScenarioSelection) -> ScenarioSelection {
    use ScenarioSelection::*;
    match (a, b) {
        (All, _) | (_, All) => All,
        (Affected, _) | (_, Affected) => Affected,
        (None, None) => None,
    }
}
