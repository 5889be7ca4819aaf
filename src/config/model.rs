//! The `faultline.yaml` data model. Key names here are a contract: tools outside the project
//! write them, so they only ever grow.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The root of `faultline.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "faultline.yaml")]
pub struct Config {
    /// Format version. Only `1` exists.
    pub version: u32,
    /// The services of the system, by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Globs of paths that affect every service (lockfiles, CI config, shared libraries).
    #[serde(default)]
    pub global: Vec<String>,
    /// Risk tiers, AI provenance and the gate.
    #[serde(default)]
    pub policy: Policy,
    /// Directory of scenario files, relative to the repository root.
    #[serde(default = "default_scenarios_dir")]
    pub scenarios: String,
    /// What exploration needs to search the fault space itself: how each service is used,
    /// and what must hold after any fault (`faultline explore`, `explore: true` in a gate rule).
    #[serde(default)]
    pub explore: Explore,
    /// Where code of the change runs: `prepare:` commands, the builds and tests of `nextest`
    /// steps and host `exec` steps. Read from the base revision's configuration, like
    /// everything that judges the change. Without it, a plan that would run such code is
    /// could not verify.
    #[serde(default)]
    pub isolation: Option<Isolation>,
}

impl Isolation {
    /// The memory cap in bytes: `memory`, or 4 GiB. `None`: not a size.
    pub(crate) fn memory_bytes(&self) -> Option<i64> {
        match &self.memory {
            None => Some(4 << 30),
            Some(text) => parse_size(text),
        }
    }
}

/// `4g`, `512m`, `64k`, `1048576`: bytes, at least 4 MiB (Docker's own floor is 6 MiB; a
/// smaller cap is a mistake, not a wish).
pub(crate) fn parse_size(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, shift) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 10),
        'm' => (&t[..t.len() - 1], 20),
        'g' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: i64 = digits.parse().ok()?;
    let bytes = n.checked_mul(1i64 << shift)?;
    (bytes >= 6 << 20).then_some(bytes)
}

/// How code of the change runs: in a container of its own (no Docker socket, none of the
/// runner's environment, the checkout read-only but for `writable`, a memory cap, no network
/// unless `network: true`), or, where the base's configuration opts out in writing, on the
/// runner (`on_runner: "why"`; every report then says so).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Isolation {
    /// A Dockerfile context directory in the repository for the image the code runs in
    /// (its compilers and tools). Default: `debian:bookworm-slim`.
    #[serde(default)]
    pub image: Option<String>,
    /// Mount the host's Rust toolchain read-only (rustup's toolchains, `cargo`, and
    /// `cargo-nextest` where installed). faultline fetches the crates the change's
    /// `Cargo.lock` names before the build, from a directory outside the checkout (so no
    /// configuration of the change applies), and the build runs offline.
    #[serde(default)]
    pub rust: bool,
    /// Paths of the checkout, relative to its root, that `prepare:` may write (where it
    /// puts what the images copy in: `services/orders/bin`). Everything else is read-only.
    #[serde(default)]
    pub writable: Vec<String>,
    /// Let `prepare:` reach the network. Default: no network at all. (`nextest` and `exec`
    /// steps always share the runner's network: they test the stack through its addresses.)
    #[serde(default)]
    pub network: bool,
    /// The container's memory cap, in bytes or with a unit (`4g`, `512m`). Default `4g`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Run code of the change on the runner instead, giving the reason. Every report says
    /// that code of the change ran where it could reach the gate.
    #[serde(default)]
    pub on_runner: Option<String>,
}

/// Workloads and invariants, written once per system.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Explore {
    /// Per service: a few requests that represent normal use, each with what is acceptable
    /// under any fault (`expect: { status: [201, 503], within: 3s }`). The same syntax as a
    /// scenario's `request` steps.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<WorkloadStep>>")]
    pub workloads: BTreeMap<String, Vec<serde_json::Value>>,
    /// Checks that must hold after any fault once the system has recovered: the `sql`,
    /// `redis`, `logs` and `recovers` checks of scenario files. `when: SERVICE` limits one
    /// to the stacks that run that service (the tables it checks are that service's);
    /// `settled: true` (on `sql` and `redis`) lets one hold only once the system has been
    /// quiet for `within` after the fault (default three times the workload's deadline).
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub invariants: Vec<serde_json::Value>,
    /// The most attempts one request of a workload may make on a dependency. Default 3.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The fault classes exploration runs, by name (`[down, slow-past-deadline,
    /// errors-first]`); default every class of the catalogue (`faultline explore --help`
    /// lists them). A class left out is not run on any edge, nor paired with another; the
    /// report says which classes ran. For a catalogue a team has judged irrelevant in part,
    /// or a tier that gates on less.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

/// Every fault class of exploration's catalogue (`scenario::experiments`), by the name
/// `explore.classes` selects it with, in catalogue order: an edge's faults, the sustained
/// outage, other services paused and restarted, the service's own restart and lifecycle,
/// saturation, the outage sustained past the limits a service keeps, and the magnitudes of each client's own deadline (planned once
/// `slow-past-deadline` found it). `dependency-errors` selects every class of a dependency's own error status
/// (`dependency-404`, …: an edge's `errors:`, or seen in the reference).
pub const FAULT_CLASSES: &[&str] = &[
    "down",
    "slow-past-deadline",
    "slow-under-deadline",
    "unresponsive",
    "errors-first",
    "errors-first-502",
    "errors-first-504",
    "errors-first-500",
    "errors-first-large",
    "reset-first",
    "dependency-errors",
    "throttled",
    "unavailable",
    "reply-lost",
    "reset-mid-response",
    "blackhole",
    "outage",
    "paused",
    "restarted",
    "lifecycle-start-while-down",
    "lifecycle-stop-in-flight",
    "saturation",
    "outage-sustained",
    "slow-under-client-deadline",
    "slow-past-client-deadline",
];

/// One step of a workload, for the schema: a scenario's `request` step (`request`, `body` or
/// `form`, `headers`, `repeat`, `capture`, `expect`, `agrees`; read by the scenarios' code)
/// and `under_fault`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct WorkloadStep {
    /// What else the step may do while a fault is in place: keys of `expect` (`status`,
    /// `within`, `error_rate`, `p50` … `p99`) that replace its own in every experiment, so
    /// `expect` stays what it must do without a fault (the reference run).
    /// `expect: { status: [201], within: 3s }` with `under_fault: { status: [201, 202, 503] }`:
    /// a 503 is acceptable while the database is out, never without a fault.
    #[serde(default)]
    under_fault: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(flatten)]
    step: serde_json::Map<String, serde_json::Value>,
}

fn default_max_attempts() -> u32 {
    3
}

impl Default for Explore {
    fn default() -> Self {
        Explore {
            workloads: BTreeMap::new(),
            invariants: Vec::new(),
            max_attempts: default_max_attempts(),
            classes: None,
        }
    }
}

pub(crate) fn default_scenarios_dir() -> String {
    "scenarios".to_owned()
}

/// One service: what it owns in the repository and how to run it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Globs of the repository paths this service owns (`services/payments/**`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// A Dockerfile context directory in the repository. A changed file in it makes the
    /// service affected unless its `.dockerignore` leaves the file out of the context (the
    /// `Dockerfile` and `.dockerignore` always count).
    #[serde(default)]
    pub build: Option<String>,
    /// The Dockerfile of `build`, relative to the repository root, when it is not the
    /// context's own `Dockerfile` (one Dockerfile shared by many contexts, as compose's
    /// `dockerfile:`). It may lie outside the context; it is sent with it, and a change to
    /// it affects every service built with it.
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// Build arguments (`ARG`) of `build`, as compose's `build.args`. Part of what the image
    /// is labelled with: another value builds another image.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Globs of repository files this service's build reads besides its `paths` and build
    /// context (`docs/schema.sql` compiled in, a shared folder a build tool faultline cannot
    /// inspect reads): a changed file that matches makes the service affected, "read by the
    /// build of" it. The gate also reads Cargo's dep-info after the build and cannot verify a
    /// change to a file a service's build read that the plan did not know of.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// A command run with `sh -c` at the root of the checkout under test before images are
    /// built (compile a binary into the `build` context, for instance). Identical commands
    /// run once.
    #[serde(default)]
    pub prepare: Option<String>,
    /// An image reference, used as it is (pulled only if missing).
    #[serde(default)]
    pub image: Option<String>,
    /// Container ports the service listens on. The first is its main port.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// How to tell the service is ready.
    #[serde(default)]
    pub ready: Option<Ready>,
    /// An HTTP endpoint that says whether the process itself is healthy, as an orchestrator
    /// restarts it on: it must not depend on the service's dependencies. Exploration probes
    /// it during every experiment (every 250 ms, 2xx within 1 s) and fails an experiment in
    /// which it failed while a dependency was faulted.
    #[serde(default)]
    pub liveness: Option<Health>,
    /// An HTTP endpoint that says whether the service can take work now: it may fail while
    /// a dependency is faulted, and exploration requires it to answer 2xx again within 20 s
    /// of a fault's end.
    #[serde(default)]
    pub readiness: Option<Health>,
    /// Environment variables passed to the container as they are.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Files written into the container before it starts, by absolute path in the
    /// container: a configuration the service reads its peers from (`/app/peers.json`),
    /// rendered with the placeholders of its edges, `{DEP.host}` and `{DEP.port}` (the
    /// address of the edge's proxy, as in `url`), so that every edge goes through its proxy
    /// without a change to the application.
    #[serde(default)]
    pub files: BTreeMap<String, RenderedFile>,
    /// Services this one calls. Every edge is wired through faultline's fault proxy.
    #[serde(default)]
    pub depends_on: BTreeMap<String, Dependency>,
    /// How the gate returns this service to the state it had right after the stack first
    /// became ready, between scenarios that share a stack. Default: found from what runs in
    /// the container (a `postgres` or `redis-server` process), else `recreate`.
    #[serde(default)]
    pub reset: Option<ResetKind>,
    /// A command run in the container (no shell) whose output must be the same after every
    /// reset as after the first start; a difference discards the stack for a fresh one.
    /// Adds to the fingerprint faultline takes of known kinds.
    #[serde(default)]
    pub fingerprint: Option<Vec<String>>,
}

/// A file rendered into a service's container: exactly one of `template` and `content`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderedFile {
    /// A file of the repository, relative to its root, rendered with the placeholders of
    /// the service's edges (`{payments.host}`, `{payments.port}`). A change to it affects
    /// the service.
    #[serde(default)]
    pub template: Option<String>,
    /// The text of the file, rendered with the same placeholders.
    #[serde(default)]
    pub content: Option<String>,
}

/// How a service is returned to its first-ready state between scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetKind {
    /// Every database copied to a template once after the first start and restored from it
    /// (`DROP DATABASE … WITH (FORCE)`, `CREATE DATABASE … TEMPLATE`); the server keeps
    /// running.
    Postgres,
    /// Every key dumped once after the first start and restored (`FLUSHALL`, `RESTORE`).
    Redis,
    /// The container removed and created again from its image: nothing it wrote survives.
    Recreate,
}

/// Readiness: exactly one of `log`, `http`, `tcp`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// A line the service prints (substring match) once it accepts work.
    #[serde(default)]
    pub log: Option<String>,
    /// An HTTP path on the main port that answers 2xx once ready (`/health`).
    #[serde(default)]
    pub http: Option<String>,
    /// A port that accepts TCP connections once ready.
    #[serde(default)]
    pub tcp: Option<u16>,
}

/// A health endpoint of a service (`liveness`, `readiness`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// A path on the service's first port, requested with GET; healthy is a 2xx (`/live`).
    pub http: String,
}

/// A dependency edge `service -> dependency`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The environment variable of the dependent service that receives the address.
    /// Required unless `vars` names the variables.
    #[serde(default)]
    pub env: Option<String>,
    /// The value of that variable: a template with `{host}` and `{port}`, which faultline
    /// fills with its proxy's address for this edge. Default `{host}:{port}`.
    #[serde(default = "default_url")]
    pub url: String,
    /// More variables for apps that take the address in parts, each a template with
    /// `{host}` and `{port}`: `{ APP_DATABASE__HOST: "{host}", APP_DATABASE__PORT: "{port}" }`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Which of the dependency's `ports` this edge targets. Default: its first port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The service works without this dependency (a cache, a recommendation service):
    /// exploration then expects its workload to succeed (2xx) whatever happens to it.
    #[serde(default)]
    pub optional: bool,
    /// The name the client uses for this dependency when it is not the service's name
    /// (`payments.internal`, the host of a URL another service hands out): inside the
    /// dependent's container it resolves to the edge's proxy, and `{host}` is this name.
    #[serde(default)]
    pub host: Option<String>,
    /// The port the client dials when it cannot be told one (an address another service
    /// hands out in a response, `http://reviews.internal:8080/…`): the edge's proxy also
    /// listens on it, on the run's own network. Needs `host`. Two edges of one system cannot
    /// share a `client_port`.
    #[serde(default)]
    pub client_port: Option<u16>,
    /// The dependency's own error statuses (400-599) the client must handle, on an HTTP
    /// edge: `[404, 409]`. Exploration answers the first 2 requests of the edge with each
    /// (an experiment `dependency-404`, one request at a time), besides the error statuses
    /// the dependency answered during the reference run. A status the catalogue answers
    /// already (429, 500, 502, 503, 504) adds no experiment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<u16>,
}

fn default_url() -> String {
    "{host}:{port}".to_owned()
}

impl Dependency {
    /// Every variable this edge sets and its template: `env` with `url`, then `vars`.
    pub(crate) fn variables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env
            .as_deref()
            .map(|e| (e, self.url.as_str()))
            .into_iter()
            .chain(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Whether the edge speaks HTTP: a template of it starts with `http`.
    pub(crate) fn is_http(&self) -> bool {
        self.variables().any(|(_, t)| t.starts_with("http"))
    }
}

/// Risk tiers of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Low,
    Medium,
    High,
}

impl Tier {
    pub(crate) const ALL_SEVERE_FIRST: [Tier; 3] = [Tier::High, Tier::Medium, Tier::Low];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Medium => "medium",
            Tier::High => "high",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Path globs per tier. A change's tier is the most severe tier of any changed path.
    #[serde(default)]
    pub tiers: Tiers,
    /// The tier of a path that matches no glob in `tiers`. Default `medium`.
    #[serde(default)]
    pub default_tier: Option<Tier>,
    /// How to tell that a change is AI-assisted.
    #[serde(default)]
    pub ai_assisted: AiAssisted,
    /// What each tier requires.
    #[serde(default)]
    pub gate: GateTable,
    /// What each tier requires of an AI-assisted change; a tier set here replaces the same
    /// tier of `gate`.
    #[serde(default)]
    pub ai_gate: GateTable,
    /// The people whose sign-off counts: code-host handles (`@alice`) or emails. Approvals
    /// come only from outside the change (the code host's reviews, `--approved-by`);
    /// trailers in the change's own commits never count. With `owners`, these sign off for
    /// the paths no owners entry matches.
    #[serde(default)]
    pub seniors: Vec<String>,
    /// Who may sign off per area, as CODEOWNERS says it: for each changed path the last
    /// entry whose `paths` match names its seniors, and a sign-off needs one approval from
    /// every area the change touches.
    #[serde(default)]
    pub owners: Vec<Owners>,
    /// Also read the base revision's CODEOWNERS, after `owners`, as the code host that
    /// enforces it reads it: GitHub's rules (the first of `.github/CODEOWNERS`, `CODEOWNERS`,
    /// `docs/CODEOWNERS`) or GitLab's, with sections (the first of `CODEOWNERS`,
    /// `docs/CODEOWNERS`, `.gitlab/CODEOWNERS`). The host is the CI's (`GITHUB_ACTIONS`,
    /// `GITLAB_CI`), else GitLab when the base has a `.gitlab-ci.yml`, else GitHub. Owners
    /// are handles or emails; a team, group or role (`@org/team`, `@@maintainer`) cannot be
    /// resolved and no approval matches it. Default `false`.
    #[serde(default)]
    pub codeowners: bool,
    /// More paths that belong to the gate itself or change how everything builds, beside the
    /// built-in ones (`faultline.yaml`, the scenarios directory, `.cargo/`, `rust-toolchain*`,
    /// `Cargo.lock`, CI workflows, …). A change to one is high tier, affects every service and
    /// needs a senior's sign-off.
    #[serde(default)]
    pub protected: Vec<String>,
    /// What a change to a path that nothing claims (no service's `paths`, build context or
    /// `prepare` script, no `global` or tier glob, no protected path) requires, on top of its
    /// tier's rule. Default: every scenario and a senior's sign-off — an unknown path fails
    /// closed.
    #[serde(default)]
    pub unclaimed: Option<GateRule>,
    /// The branches a change may be judged against (`main`, `release/*`): the gate judges a
    /// change only when its base is one of these branches' tip, or a commit that was the
    /// tip before (on its first-parent history). A base anyone can push to could carry a
    /// weaker faultline.yaml. Read from the default branch's own faultline.yaml, never from
    /// the base's (which would let any branch list itself). Default: the repository's
    /// default branch alone (the code host's, else `origin/HEAD`, else `main` or `master`).
    /// Not `protected`, which lists protected paths.
    #[serde(default)]
    pub base_branches: Option<Vec<String>>,
    /// Names of environment variables that `prepare` commands, the builds of `nextest` steps
    /// and host `exec` steps receive from the runner, beside the built-in allowlist (`PATH`,
    /// `HOME`, toolchain variables). Nothing else of the runner's environment reaches code of
    /// the change.
    #[serde(default)]
    pub prepare_env: Vec<String>,
}

impl Policy {
    /// `unclaimed`, or its fail-closed default.
    pub(crate) fn unclaimed_rule(&self) -> GateRule {
        self.unclaimed.unwrap_or(GateRule {
            scenarios: ScenarioSelection::All,
            signoff: Signoff::Seniors,
            explore: false,
            unexercised: Unexercised::Warn,
            partial_exploration: PartialExploration::Unverified,
        })
    }
}

/// One area of `policy.owners`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    /// Path globs of the area (`services/payments/**`).
    pub paths: Vec<String>,
    /// Who may sign off for it: handles (`@alice`) or emails.
    pub seniors: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    #[serde(default)]
    pub high: Vec<String>,
    #[serde(default)]
    pub medium: Vec<String>,
    #[serde(default)]
    pub low: Vec<String>,
}

impl Tiers {
    pub(crate) fn get(&self, tier: Tier) -> &[String] {
        match tier {
            Tier::High => &self.high,
            Tier::Medium => &self.medium,
            Tier::Low => &self.low,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AiAssisted {
    /// Regexes matched against each trailer line `Key: value` of every commit in the change.
    #[serde(default)]
    pub trailers: Vec<String>,
    /// Regexes matched against each commit's author and committer, `Name <email>`.
    #[serde(default)]
    pub authors: Vec<String>,
    /// CI labels (`--label`, `FAULTLINE_LABELS`) that mark a change AI-assisted.
    #[serde(default = "default_ai_labels")]
    pub labels: Vec<String>,
    /// Regexes matched against each commit's whole message (`Generated with [Claude Code]`).
    #[serde(default)]
    pub markers: Vec<String>,
    /// Also recognise what the common assistants and coding agents write by default
    /// (trailers, bot authors, message markers). Default `true`; `false` keeps only the
    /// patterns listed here.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Every change counts as AI-assisted, whatever its commits say (`policy.ai_gate`
    /// applies to all): for teams where any change may be, signed or not. Default `false`.
    #[serde(default)]
    pub assume: bool,
}

impl Default for AiAssisted {
    fn default() -> Self {
        AiAssisted {
            trailers: Vec::new(),
            authors: Vec::new(),
            labels: default_ai_labels(),
            markers: Vec::new(),
            builtin: true,
            assume: false,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_ai_labels() -> Vec<String> {
    vec!["ai-assisted".to_owned()]
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateTable {
    #[serde(default)]
    pub high: Option<GateRule>,
    #[serde(default)]
    pub medium: Option<GateRule>,
    #[serde(default)]
    pub low: Option<GateRule>,
}

impl GateTable {
    pub(crate) fn get(&self, tier: Tier) -> Option<&GateRule> {
        match tier {
            Tier::High => self.high.as_ref(),
            Tier::Medium => self.medium.as_ref(),
            Tier::Low => self.low.as_ref(),
        }
    }
}

/// What the gate asks of a change of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateRule {
    /// Which scenarios run. Default `affected`.
    #[serde(default = "ScenarioSelection::default_affected")]
    pub scenarios: ScenarioSelection,
    /// Whether a senior must sign off. Default `none`.
    #[serde(default = "Signoff::default_none")]
    pub signoff: Signoff,
    /// After the scenarios, explore the affected services that have a workload
    /// (`explore.workloads`): faults nobody wrote a scenario for. Default `false`.
    #[serde(default)]
    pub explore: bool,
    /// What an edge exploration could not exercise means for the verdict: an edge of the
    /// explored service's stack (a `depends_on` of the service or of a service it depends
    /// on, transitively) that carried no traffic in any pass of the workload, nor while
    /// another edge was faulted, was never faulted. `warn` (default): every report says so;
    /// `unverified`: the change could not be verified.
    #[serde(default)]
    pub unexercised: Unexercised,
    /// What an exploration the budget cut short means for the verdict: experiments on the
    /// edges of a service the change touched that did not run (the budget ran out before
    /// them). `unverified` (default): the change could not be verified; `allow`: they are
    /// listed and the verdict stands.
    #[serde(default)]
    pub partial_exploration: PartialExploration,
}

impl Default for GateRule {
    fn default() -> Self {
        GateRule {
            scenarios: ScenarioSelection::Affected,
            signoff: Signoff::None,
            explore: false,
            unexercised: Unexercised::Warn,
            partial_exploration: PartialExploration::Unverified,
        }
    }
}

/// What experiments left unrun on a touched service's edges do to the verdict
/// (`partial_exploration:` of a gate rule). The stricter is `unverified`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartialExploration {
    /// The change could not be verified (exit 2): part of what the change touched was not
    /// explored.
    #[default]
    Unverified,
    /// Listed in every report; the verdict stands.
    Allow,
}

/// What an edge exploration never exercised does to the verdict (`unexercised:` of a gate
/// rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unexercised {
    /// Listed, with a warning in every report; the verdict stands.
    #[default]
    Warn,
    /// Listed, and the change could not be verified (exit 2).
    Unverified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioSelection {
    /// Every scenario.
    All,
    /// Scenarios whose target is affected by the change.
    Affected,
    /// No scenario.
    None,
}

impl ScenarioSelection {
    fn default_affected() -> Self {
        ScenarioSelection::Affected
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScenarioSelection::All => "all",
            ScenarioSelection::Affected => "affected",
            ScenarioSelection::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Signoff {
    /// One of `policy.seniors` must approve.
    Seniors,
    /// No sign-off needed.
    None,
}

impl Signoff {
    fn default_none() -> Self {
        Signoff::None
    }
}
