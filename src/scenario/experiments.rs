//! Experiments for exploration, generated from the system, not from a list tuned to one:
//! a service's workload (`explore.workloads` in faultline.yaml), the edges its reference
//! run actually used, and a catalogue of the faults that take production down. Each
//! experiment is a scenario file like any other, so the runner runs it, the checks judge it,
//! and a failed one is written out for a senior to keep (`why: TODO`).
//!
//! The catalogue, per edge that carried traffic (`client -> dependency`):
//!
//! | class                | HTTP edge                               | other edge (a database, a cache) |
//! |----------------------|-----------------------------------------|----------------------------------|
//! | `down`               | open connections cut, new ones refused (`down: true`) | the same              |
//! | `slow-past-deadline` | each request held past the deadline     | —                                |
//! | `unresponsive`       | —                                       | nothing passes; closed after the deadline |
//! | `slow-under-deadline`| held for half the deadline              | each reply delayed 1/20 of it    |
//! | `errors-first`       | the first 2 requests answer 503, a JSON problem (`application/problem+json`) | — |
//! | `errors-first-502`   | the same with 502 and nginx's HTML error page (`text/html`) | —            |
//! | `errors-first-504`   | the same with 504 and a gateway's plain text (`upstream request timeout`) | — |
//! | `errors-first-500`   | the same with 500 and an empty body     | —                                |
//! | `errors-first-large` | the same with 503 and a 256 KiB HTML page, `charset=iso-8859-1` (one request at a time only) | — |
//! | `dependency-404`, …  | the first 2 requests answer one of the dependency's own error statuses (declared `errors:` on the edge, or answered in the reference; not 429, 500, 502-504), a JSON problem (one request at a time only) | — |
//! | `reset-first`        | the first 2 requests reset, unforwarded | —                                |
//! | `throttled`          | 429 with `Retry-After: 3600`            | —                                |
//! | `unavailable`        | 503 with `Retry-After: 3600`            | —                                |
//! | `reply-lost`         | the first reply lost after the work     | —                                |
//! | `reset-mid-response` | every reply cut after 64 bytes          | connections reset after 100 ms   |
//! | `blackhole`          | nothing passes, nothing closes          | —                                |
//! | `saturation`         | held for 1/4 of the deadline, the workload 16 then 64 at once | —              |
//!
//! each once with the workload one request at a time and once with 4 at once (`saturation`:
//! once, [`SATURATION`]; `errors-first-large` and `dependency-*`: one at a time only); `outage`: the edge down for 30 requests in a row, then recovery;
//! `outage-sustained` ([`sustained_outage`]): the edge down while the whole workload is sent
//! again and again, until the edge has been offered [`OUTAGE_TIMES`] times the calls it carried
//! in the reference and at least [`OUTAGE_FLOOR`], then recovery.
//! Latency at magnitudes of each client's own deadline ([`magnitude`]), chosen after the
//! catalogue ran (`runner::fault_search`'s deadlines: the client's deadline `D` on an HTTP
//! edge is how long it waited in `slow-past-deadline` before it went away; where a base
//! revision ran it too, the base's `D`, and the change's as well when it differs, its classes
//! ending in [`OF_CHANGE`]), one request at a time, when the calls of a workload request fit
//! 3/4 of the workload's deadline under them and no catalogue delay is within 20 % of them:
//!
//! | class                        | HTTP edge                                                  |
//! |------------------------------|------------------------------------------------------------|
//! | `slow-under-client-deadline` | held `D/2`: the client waits; a step answered 2xx without faults must be answered 2xx |
//! | `slow-past-client-deadline`  | held `3D/2`: every attempt gives up; the late answers land while the workload runs |
//!
//! Pairs of faults ([`pair`]): two single faults on two different edges at once, chosen
//! after the single faults ran (`runner::fault_search`'s dynamic reduction). Every other service of the stack is
//! paused (3 s) and restarted (killed for 2 s) during the workload; the service under test
//! is restarted between two passes of it.
//!
//! The service's own lifecycle, per edge of the service under test that carried traffic
//! (`service -> dependency`, see [`lifecycle`]):
//!
//! | class                        | what happens                                              |
//! |------------------------------|-----------------------------------------------------------|
//! | `lifecycle-start-while-down` | after a pass, the edge refuses for 6 s; the service is killed and started again while it does (so also "restarted while a dependency is down"); it must serve again once the dependency is back |
//! | `lifecycle-stop-in-flight`   | once per service: the edge held for half the deadline, the step that first used it sent 4 at once, the service stopped gracefully (SIGTERM, 10 s grace) halfway through the hold: every request it had passed on must be answered, and it must serve again ([`stop_in_flight`]) |
//!
//! The oracles every experiment carries: the workload's own expectations; no crash in the
//! logs of the services built from the repository; recovery (the workload's first request
//! succeeds again within 20 s of the fault's end); the invariants (a `settled: true` one
//! judged again until it holds, for up to three times the deadline unless it says); each
//! declared `readiness` answering 2xx again within 20 s; each declared `liveness` probed
//! while the fault is in place (`probes:`), on every service the fault does not itself stop.
//! The runner's exploration adds the attempts per workload request, and compares the
//! experiments of a [`family`] with each other: transient failures that differ only in
//! flavour (503, 502, 504, 500, a large page, each with its body; a reset before the reply)
//! on one edge, in one mode, must leave the workload's client with the same outcome. The
//! dependency's own errors (`dependency-404`) are answers, not a transient failure: no
//! family compares them.

use std::time::Duration;

use serde_json::{Value, json};

use super::validate::Scenario;
use crate::config::{ConfigError, FileDiagnostic, LoadedConfig};
use crate::ypath;

/// Log lines that are a crash in the common runtimes: a correct service prints none, under
/// any fault.
pub(crate) const CRASH_PATTERNS: &[&str] = &[
    "panicked at",
    "^panic: ",
    r"Traceback \(most recent call last\)",
    "Segmentation fault",
    "FATAL ERROR",
    r#"Exception in thread "main""#,
    "Unhandled(Promise)?Rejection",
];

/// An experiment the catalogue made that the scenarios' validation rejects (the workload
/// alone passed it, so this is a bug of the catalogue or a fault its edge cannot take).
#[derive(Debug, thiserror::Error)]
#[error("the experiment {name} is not a valid scenario: {}", with_problems(.error))]
pub struct InvalidExperiment {
    pub name: String,
    /// Shown in the message, problems inline; not a `source`, so a report does not print
    /// it twice.
    pub error: ConfigError,
}

/// `error`, and the message of each of its problems, on one line.
fn with_problems(error: &ConfigError) -> String {
    let mut s = error.to_string();
    if let ConfigError::Invalid { problems, .. } = error {
        for p in problems {
            s.push_str(&format!("; {}", p.message));
        }
    }
    s
}

/// A service's workload with what exploration needs of the configuration.
#[derive(Debug, Clone)]
pub struct Workload {
    pub service: String,
    /// The `request` steps, as written, with what they must do without a fault (`expect`):
    /// the reference's.
    pub steps: Vec<Value>,
    /// The same steps as the experiments send them: each step's `under_fault` (what else it
    /// may answer while a fault is in place) over its `expect`.
    pub faulted: Vec<Value>,
    pub invariants: Vec<Value>,
    pub max_attempts: u32,
    /// The longest `within` of the steps (default 5 s): what "past the deadline" means.
    pub deadline: Duration,
    /// Services built from the repository: their logs must show no crash.
    pub own: Vec<String>,
    /// Edges declared `optional`: a fault on one must not make the workload fail.
    pub optional: Vec<(String, String)>,
    /// The services of the workload's stack, once known: invariants with `when: SERVICE`
    /// apply only where that service runs.
    pub stack: Option<Vec<String>>,
    /// `(service, path)`: the declared `liveness` endpoints of the stack's services, probed
    /// during every experiment (but on a service the experiment's own fault stops).
    pub liveness: Vec<(String, String)>,
    /// `(service, path)`: the declared `readiness` endpoints, which must answer 2xx again
    /// after the faults.
    pub readiness: Vec<(String, String)>,
    /// `explore.classes`: the fault classes to run; `None`, every one.
    pub classes: Option<Vec<String>>,
}

impl Workload {
    /// Whether exploration runs the fault class `class` (`explore.classes`).
    /// Every `dependency-NNN` is selected by `dependency-errors`.
    /// A magnitude of the change's own deadline (`…-of-change`) is selected by its class.
    pub fn runs(&self, class: &str) -> bool {
        let class = class.strip_suffix(OF_CHANGE).unwrap_or(class);
        let class = if class.starts_with(DEPENDENCY) { DEPENDENCY_ERRORS } else { class };
        self.classes.as_ref().is_none_or(|c| c.iter().any(|c| c == class))
    }
}

/// One experiment: a fault, a way of sending the workload, and the scenario that does it.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    /// The fault class (`down`, `slow-past-deadline`, …; `reference` for the fault-free run).
    pub class: String,
    /// The edge (`a -> b`) or service the fault is on; empty for the reference.
    pub on: String,
    pub mode: Mode,
    /// The fault on another edge at the same time (a fallback's trigger: `down on a -> b`).
    pub with: Option<String>,
    /// The faults and steps of the scenario file, as written (a fallback's experiments
    /// repeat their trigger's).
    pub faults: Vec<Value>,
    pub steps: Vec<Value>,
    /// The scenario file, as `--write` writes it.
    pub text: String,
    pub scenario: Scenario,
    /// A sustained outage's plan (`outage-sustained`, and a fallback it triggered): how
    /// long it is driven, from the reference.
    pub outage: Option<OutagePlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One request at a time: the requests a dependency sees during one are its attempts.
    Sequential,
    /// 4 requests at once.
    Concurrent,
    /// The fault held for dozens of requests, then recovery.
    Sustained,
    /// Concurrency that grows: the workload [`SATURATION`] requests at once, level after
    /// level (16, then 64), for what serialises or runs out only under load.
    Saturated,
    /// The whole workload again and again, one request at a time, for as long as an
    /// [`OutagePlan`] says: past the limits a service keeps.
    Prolonged,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Sequential => "one at a time",
            Mode::Concurrent => "4 at once",
            Mode::Sustained => "30 in a row",
            Mode::Saturated => "16 then 64 at once",
            Mode::Prolonged => "the workload again and again",
        })
    }
}

/// An edge the reference run used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedEdge {
    pub from: String,
    pub to: String,
    /// HTTP requests crossed it (else only connections).
    pub http: bool,
    /// Passes of the workload its experiments send: the pass of the reference in which it
    /// first carried traffic (1 for most edges; an edge a service calls only every Nth
    /// request, or after a warm-up, needs more).
    pub passes: u32,
    /// The error statuses (400-599) the dependency itself answered on it in the reference,
    /// in order, once each: each is an experiment ([`dependency_statuses`]).
    pub statuses: Vec<u16>,
    /// The calls it carried during its `passes` passes of the reference: HTTP requests, else
    /// connections opened during the steps; 0 when only a connection opened before them
    /// carried bytes (a pool), whose calls cannot be counted. What [`sustained_outage`]
    /// scales from.
    pub calls: u32,
    /// When it first carried traffic in the reference, where that has a time (a request, or
    /// a connection opened during the steps; not the bytes of a pool opened at start-up).
    pub first: Option<FirstUse>,
}

/// The step during which an edge first carried traffic in the reference run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstUse {
    /// Its index within one pass of the workload (its pass is [`UsedEdge::passes`]).
    pub step: usize,
    /// When that step started, in ms from the start of the reference's steps: after the
    /// passes before it and the steps before it in its pass.
    pub start_ms: u64,
}

impl UsedEdge {
    /// `from -> to`.
    pub fn name(&self) -> String {
        format!("{} -> {}", self.from, self.to)
    }
}

/// The edges exploration must exercise for a workload whose stack is `stack` (the explored
/// service and every service it depends on, transitively, as [`workload`] computes it): the
/// `depends_on` edges of each of them, `from -> to`, in the configuration's order. Each is
/// a proxy of the stack, so each can carry the workload's traffic and each can be faulted.
pub fn declared_edges(config: &crate::config::Config, stack: &[String]) -> Vec<(String, String)> {
    config
        .services
        .iter()
        .filter(|(name, _)| stack.contains(name))
        .flat_map(|(from, s)| s.depends_on.keys().map(move |to| (from.clone(), to.clone())))
        .collect()
}

/// The workload of `service`, validated with the scenarios' own code: a located error in
/// faultline.yaml when it, or an invariant, is not what a scenario accepts.
pub fn workload(loaded: &LoadedConfig, service: &str) -> Result<Workload, ConfigError> {
    let config = &loaded.config;
    let Some(steps) = config.explore.workloads.get(service) else {
        let d = FileDiagnostic::at_key(&loaded.source, &ypath!["explore"], format!("`{service}` has no workload"))
            .with_help(format!(
                "add `explore: {{ workloads: {{ {service}: [ {{ request: \"GET {service} /\" }} ] }} }}`; services with one: {}",
                crate::config::diagnostic::listing(&config.explore.workloads.keys().collect::<Vec<_>>())
            ));
        return Err(ConfigError::invalid(&loaded.source, vec![d]));
    };
    let faulted: Vec<Value> = steps.iter().map(under_fault).collect();
    let steps: Vec<Value> = steps.iter().map(|s| without(s, "under_fault")).collect();
    let deadline = faulted
        .iter()
        .chain(&steps)
        .filter_map(|s| s.pointer("/expect/within")?.as_str().and_then(|w| humantime::parse_duration(w).ok()))
        .max()
        .unwrap_or(Duration::from_secs(5));
    // The stack: the service and everything it depends on, transitively.
    let mut stack = vec![service.to_owned()];
    let mut i = 0;
    while i < stack.len() {
        if let Some(s) = config.services.get(&stack[i]) {
            for dep in s.depends_on.keys() {
                if !stack.contains(dep) {
                    stack.push(dep.clone());
                }
            }
        }
        i += 1;
    }
    let own = config
        .services
        .iter()
        .filter(|(n, s)| s.build.is_some() && stack.contains(n))
        .map(|(n, _)| n.clone())
        .collect();
    let optional = config
        .services
        .iter()
        .flat_map(|(from, s)| {
            s.depends_on.iter().filter(|(_, d)| d.optional).map(move |(to, _)| (from.clone(), to.clone()))
        })
        .collect();
    let health = |pick: fn(&crate::config::Service) -> &Option<crate::config::Health>| -> Vec<(String, String)> {
        stack.iter().filter_map(|s| Some((s.clone(), pick(config.services.get(s)?).as_ref()?.http.clone()))).collect()
    };
    let (liveness, readiness) = (health(|s| &s.liveness), health(|s| &s.readiness));
    let mut w = Workload {
        service: service.to_owned(),
        steps,
        faulted,
        invariants: settled(&config.explore.invariants, deadline),
        max_attempts: config.explore.max_attempts,
        deadline,
        own,
        optional,
        stack: Some(stack),
        liveness,
        readiness,
        classes: config.explore.classes.clone(),
    };
    // The reference is validated against the configuration: so is every experiment.
    let (text, _) = build(&w, "reference", &[], &w.steps, &[]);
    let scenario = super::parse("faultline.yaml", text, config).map_err(|e| relocate(loaded, service, e))?;
    // And so are the steps as experiments send them (`under_fault` over `expect`).
    let (text, _) = build(&w, "under-fault", &[], &w.faulted, &[]);
    super::parse("faultline.yaml", text, config).map_err(|e| relocate(loaded, service, e))?;
    w.stack = Some(scenario.stack);
    Ok(w)
}

/// `step` as experiments send it: the keys of its `under_fault` over those of its `expect`.
fn under_fault(step: &Value) -> Value {
    let mut s = without(step, "under_fault");
    if let Some(over) = step.get("under_fault").and_then(Value::as_object) {
        let mut expect = s.get("expect").and_then(Value::as_object).cloned().unwrap_or_default();
        expect.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        s["expect"] = Value::Object(expect);
    }
    s
}

/// `v` without its key `key`.
fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

/// The invariants, each `settled: true` one with its bound written out (`within`: three
/// times the workload's deadline unless it says), so a written experiment says what ran.
fn settled(invariants: &[Value], deadline: Duration) -> Vec<Value> {
    invariants
        .iter()
        .map(|inv| {
            let mut inv = inv.clone();
            if let Some(o) = inv.as_object_mut()
                && o.get("settled") == Some(&Value::Bool(true))
                && !o.contains_key("within")
            {
                o.insert("within".into(), json!(dur(deadline * 3)));
            }
            inv
        })
        .collect()
}

/// A problem of the reference scenario, located at the workload in faultline.yaml.
fn relocate(loaded: &LoadedConfig, service: &str, e: ConfigError) -> ConfigError {
    let problems = match e {
        ConfigError::Invalid { problems, .. } => problems,
        other => return other,
    };
    let path = ypath!["explore", "workloads", service];
    let out = problems
        .into_iter()
        .map(|p| {
            let mut d = FileDiagnostic::at_key(
                &loaded.source,
                &path,
                format!("in the workload of `{service}` or an invariant: {}", p.message),
            );
            d.help = p.help;
            d
        })
        .collect();
    ConfigError::invalid(&loaded.source, out)
}

/// The fault-free run of the workload: which edges it uses, how long it takes.
pub fn reference(w: &Workload, config: &crate::config::Config) -> Result<Experiment, InvalidExperiment> {
    experiment(w, config, "reference", "", Mode::Sequential, Vec::new(), sequential(&w.steps), Vec::new())
}

/// The fault-free workload `passes` times in a row on one stack, one request at a time: for
/// the edges one pass leaves without traffic (a dependency called every Nth request, after a
/// warm-up, on a cache miss). Its steps are the workload's steps, pass after pass.
pub fn reference_passes(
    w: &Workload,
    config: &crate::config::Config,
    passes: u32,
) -> Result<Experiment, InvalidExperiment> {
    let mut e = experiment(
        w,
        config,
        &format!("reference-{passes}-passes"),
        "",
        Mode::Sequential,
        Vec::new(),
        repeated(sequential(&w.steps), passes),
        Vec::new(),
    )?;
    e.class = "reference".into();
    Ok(e)
}

/// Every experiment for `w`, in order: the edges of `first` (the changed services) first,
/// then the others, each edge's faults in catalogue order, then the services' restarts.
/// `reference_ms` is how long the reference workload took.
pub fn catalogue(
    w: &Workload,
    config: &crate::config::Config,
    used: &[UsedEdge],
    stack: &[String],
    first: &[String],
    reference_ms: f64,
) -> Result<Vec<Experiment>, InvalidExperiment> {
    let mut edges: Vec<&UsedEdge> = used.iter().collect();
    edges.sort_by_key(|e| (!first.contains(&e.from), e.from.clone(), e.to.clone()));
    let d = w.deadline;
    let mut out = Vec::new();
    for e in edges {
        let on = e.name();
        let optional = w.optional.contains(&(e.from.clone(), e.to.clone()));
        for (class, fault) in edge_classes(config, e, d) {
            let mut f = fault;
            f["on"] = json!(on);
            let modes: &[Mode] = if once(&class) { &[Mode::Sequential] } else { &[Mode::Sequential, Mode::Concurrent] };
            for mode in modes.iter().copied() {
                let steps = if mode == Mode::Sequential { sequential(&w.faulted) } else { concurrent(&w.faulted) };
                let steps = repeated(if optional { strict(steps) } else { steps }, e.passes);
                out.push(experiment(w, config, &class, &on, mode, vec![f.clone()], steps, Vec::new())?);
            }
        }
        let mut f = json!({ "down": true });
        f["on"] = json!(on);
        // 30 requests in a row: more than the passes any edge needs (at most 4).
        out.push(experiment(w, config, "outage", &on, Mode::Sustained, vec![f], sustained(&w.faulted), Vec::new())?);
    }
    for s in stack.iter().filter(|s| **s != w.service) {
        // A service every caller of which can do without it.
        let mut callers = used.iter().filter(|e| e.to == *s).peekable();
        let passes = used.iter().filter(|e| e.to == *s).map(|e| e.passes).max().unwrap_or(1);
        let only_optional =
            callers.peek().is_some() && callers.all(|e| w.optional.contains(&(e.from.clone(), e.to.clone())));
        for (class, fault) in [
            ("paused", json!({ "on": s, "pause": true, "for": "3s" })),
            ("restarted", json!({ "on": s, "kill": true, "for": "2s" })),
        ] {
            for mode in [Mode::Sequential, Mode::Concurrent] {
                let steps = if mode == Mode::Sequential { sequential(&w.faulted) } else { concurrent(&w.faulted) };
                let steps = repeated(if only_optional { strict(steps) } else { steps }, passes);
                out.push(experiment(w, config, class, s, mode, vec![fault.clone()], steps, Vec::new())?);
            }
        }
    }
    // The service under test restarts between two passes of the workload: what it kept in
    // memory is gone, what it wrote must still add up, and it must serve again.
    let pass = pass_time(reference_ms);
    let at = pass * SLACK + Duration::from_millis(300);
    let mut steps = sequential(&w.faulted);
    steps.push(json!({ "sleep": dur(at.saturating_sub(pass) + Duration::from_millis(1500)) }));
    let restart = json!({ "on": w.service, "kill": true, "at": dur(at), "for": "1s" });
    out.push(experiment(w, config, "restarted", &w.service, Mode::Sequential, vec![restart], steps, Vec::new())?);
    out.extend(lifecycle(w, config, used, reference_ms)?);
    out.extend(saturation(w, config, used, first)?);
    if w.runs(OUTAGE_SUSTAINED) {
        let mut edges: Vec<&UsedEdge> = used.iter().collect();
        edges.sort_by_key(|e| (!first.contains(&e.from), e.from.clone(), e.to.clone()));
        for e in edges {
            out.push(sustained_outage(w, config, e, reference_ms)?);
        }
    }
    out.retain(|e| w.runs(&e.class));
    Ok(out)
}

/// How many times the reference's pass an experiment waits before a fault that must land
/// after the workload's requests (the service under test killed between passes, its
/// dependency going down before it is killed): under load the same steps take longer, and
/// a kill that lands on a request in flight fails it for no fault of the service's. Seen:
/// the newsletter's pass took over twice the reference's in the suite on 2 cores at 97 % CPU.
const SLACK: u32 = 3;

/// How long one pass of the workload took in the reference, rounded up to half a second: an
/// experiment timed from it has the same scenario text from one reference run to the next,
/// so a recorded base result of it still applies.
fn pass_time(reference_ms: f64) -> Duration {
    Duration::from_millis(((reference_ms.max(0.0) / 500.0).ceil() as u64).max(1) * 500)
}

/// How long a dependency stays down in a [`LIFECYCLE_START_WHILE_DOWN`] experiment: the
/// service under test is killed [`LIFECYCLE_KILL_AFTER`] after the dependency went down,
/// started again 1 s later, and must have run its start-up (an engine's start and a
/// runtime's boot take a few seconds on a loaded machine) before the dependency comes back.
pub const LIFECYCLE_DOWN_FOR: Duration = Duration::from_secs(6);

/// How long after its dependency went down the service under test is killed.
pub const LIFECYCLE_KILL_AFTER: Duration = Duration::from_millis(300);

/// The lifecycle class: the service under test started while one of its dependencies is
/// unreachable, then the dependency comes back.
pub const LIFECYCLE_START_WHILE_DOWN: &str = "lifecycle-start-while-down";

/// The service's own lifecycle around a dependency's outage, one experiment per edge of the
/// service under test that the reference used (`service -> dependency`): one pass of the
/// workload (over the passes the edge needed), then the edge refuses connections, the
/// service is killed while it does and started again 1 s later, still without its
/// dependency, which comes back [`LIFECYCLE_DOWN_FOR`] after it went down. The service
/// must serve again (recovery, each declared readiness): one that exits at start-up when
/// its database is unreachable, or keeps a client whose first connection failed, does not.
///
/// "Restarted while a dependency is down" is the same experiment here, not a second one: a
/// restart is a new process in the same container, so what the service kept in memory about
/// the outage is gone either way and what it wrote to its filesystem is kept either way; the
/// dependency goes down before the kill, so the service also met the outage while it ran.
/// "Stopped gracefully while requests are in flight" is [`stop_in_flight`].
fn lifecycle(
    w: &Workload,
    config: &crate::config::Config,
    used: &[UsedEdge],
    reference_ms: f64,
) -> Result<Vec<Experiment>, InvalidExperiment> {
    let pass = pass_time(reference_ms);
    let mut out = Vec::new();
    for e in used.iter().filter(|e| e.from == w.service) {
        let on = e.name();
        let down_at = pass * e.passes.max(1) * SLACK + Duration::from_millis(300);
        let faults = vec![
            json!({ "on": on, "down": true, "at": dur(down_at), "for": dur(LIFECYCLE_DOWN_FOR) }),
            json!({ "on": w.service, "kill": true, "at": dur(down_at + LIFECYCLE_KILL_AFTER), "for": "1s" }),
        ];
        let mut steps = repeated(sequential(&w.faulted), e.passes);
        // Past the dependency's return: the checks (recovery first) start once it is back.
        let until = down_at + LIFECYCLE_DOWN_FOR + Duration::from_millis(500);
        steps.push(json!({ "sleep": dur(until.saturating_sub(pass * e.passes.max(1))) }));
        let x = experiment(w, config, LIFECYCLE_START_WHILE_DOWN, &on, Mode::Sequential, faults, steps, Vec::new())?;
        out.push(x);
    }
    out.extend(stop_in_flight(w, config, used)?);
    Ok(out)
}

/// The lifecycle class: the service under test stopped gracefully (SIGTERM, then SIGKILL
/// after 10 s, as `docker stop` and an orchestrator's rolling update do) while requests it
/// accepted wait on one of its dependencies.
pub const LIFECYCLE_STOP_IN_FLIGHT: &str = "lifecycle-stop-in-flight";

/// What the time of a step is rounded up to in a scenario's text, in ms.
const QUARTER: u64 = 250;

/// [`LIFECYCLE_STOP_IN_FLIGHT`], once per service: a property of the service's own shutdown,
/// not of an edge. One edge of the service (an HTTP one first) whose first traffic in the
/// reference has a time is held for half the workload's deadline; the workload runs up to
/// the step that first used it, which is sent 4 at once; the service is stopped halfway
/// through the hold (the step's start rounded up to 250 ms, so the scenario's text, and a
/// recorded base result of it, stay the same from one reference to the next), and started
/// again 1 s after it exited.
///
/// What makes a request "in flight" is seen from outside: the service has already called
/// its dependency for it, so the service accepted it (a request still in the listen backlog
/// is one a correct shutdown may refuse). A service that drains answers each of them; one
/// that exits at once leaves them without an answer, which the workload's expectations and
/// the base under the same fault judge. Then it must serve again (recovery, readiness,
/// settled invariants). Not generated when half the deadline is under 1 s (a stop halfway
/// would race the answers) or when no edge's first traffic has a time (a pool's connections
/// opened at start-up carry every byte).
fn stop_in_flight(
    w: &Workload,
    config: &crate::config::Config,
    used: &[UsedEdge],
) -> Result<Option<Experiment>, InvalidExperiment> {
    let hold = w.deadline / 2;
    let per_pass = w.faulted.len();
    let candidates = used.iter().filter(|e| e.from == w.service).filter_map(|e| e.first.map(|f| (e, f)));
    let Some((e, first)) = candidates.min_by_key(|(e, _)| !e.http) else { return Ok(None) };
    if hold < Duration::from_secs(1) || per_pass == 0 || first.step >= per_pass {
        return Ok(None);
    }
    let on = e.name();
    let held = if e.http { json!({ "http": { "delay": dur(hold) } }) } else { json!({ "latency": dur(hold) }) };
    let mut held = held;
    held["on"] = json!(on);
    let start = Duration::from_millis(first.start_ms.div_ceil(QUARTER) * QUARTER);
    let stop = json!({ "on": w.service, "stop": true, "at": dur(start + hold / 2), "for": "1s" });
    // The passes before the edge's first, the steps before it in its pass, then that step.
    let mut steps = repeated(sequential(&w.faulted), e.passes.max(1));
    steps.truncate((e.passes.max(1) as usize - 1) * per_pass + first.step + 1);
    if let Some(last) = steps.pop() {
        steps.extend(concurrent(&[last]));
    }
    // The stop lands during the steps whatever the held requests did.
    steps.push(json!({ "sleep": dur(hold + Duration::from_millis(1500)) }));
    let x =
        experiment(w, config, LIFECYCLE_STOP_IN_FLIGHT, &on, Mode::Concurrent, vec![held, stop], steps, Vec::new())?;
    Ok(Some(x))
}

/// The levels of concurrency of a saturation experiment, in order: each workload step sent
/// this many times, all at once. 4 is the concurrent mode's; 16 and 64 find a pool, a lock
/// or a queue that 4 requests at once never fill. 80 requests per workload step in all.
pub const SATURATION: &[u32] = &[16, 64];

/// Saturation, one experiment per HTTP edge the reference used (changed services' edges
/// first): the dependency slow well under the deadline (held for a quarter of it: under a
/// client's own timeout set near half the deadline too, where a delay of half would make
/// each answer a race between the two, noise no comparison with the base can judge) while
/// the workload is sent at each level of [`SATURATION`].
/// A correct client waits for a slow dependency as often at once as it is asked to; one
/// that serialises the calls (a lock held across them, a fixed pool of connections) answers
/// the later requests past the deadline. The oracles are the workload's own expectations
/// and deadline, and the base under the same load: a system already slow at 64 at once on
/// the base is a known weakness, not the change's doing.
fn saturation(
    w: &Workload,
    config: &crate::config::Config,
    used: &[UsedEdge],
    first: &[String],
) -> Result<Vec<Experiment>, InvalidExperiment> {
    let mut edges: Vec<&UsedEdge> = used.iter().filter(|e| e.http).collect();
    edges.sort_by_key(|e| (!first.contains(&e.from), e.from.clone(), e.to.clone()));
    let mut out = Vec::new();
    for e in edges {
        let on = e.name();
        let fault = json!({ "on": on, "http": { "delay": dur(w.deadline / 4) } });
        let steps = saturated(&w.faulted);
        let steps = if w.optional.contains(&(e.from.clone(), e.to.clone())) { strict(steps) } else { steps };
        out.push(experiment(w, config, "saturation", &on, Mode::Saturated, vec![fault], steps, Vec::new())?);
    }
    Ok(out)
}

/// The workload at each level of [`SATURATION`]: every step `level` times, `level` at once,
/// each level's `{n}` in bodies, forms and headers renamed (`at64-{n}`), so no level replays a key
/// of another. An edge called every Nth request (N at most 4) is called at every level.
fn saturated(steps: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for level in SATURATION {
        out.extend(steps.iter().map(|s| {
            let mut s = s.clone();
            for key in ["body", "form", "headers"] {
                if let Some(v) = s.get_mut(key) {
                    *v = renamed(v, &format!("at{level}-{{n}}"));
                }
            }
            s["repeat"] = json!(level);
            s["concurrency"] = json!(level);
            s
        }));
    }
    out
}

/// The class of a sustained outage ([`sustained_outage`]).
pub const OUTAGE_SUSTAINED: &str = "outage-sustained";

/// How many times the calls an edge carried in the reference a sustained outage offers it
/// (K): a limit sized from the service's normal traffic (a queue of pending retries, a pool,
/// a buffer of failed calls a few times what one run of the workload fills) is passed, and a
/// long workload's edge is held well past what its own length would reach.
pub const OUTAGE_TIMES: u32 = 10;

/// The fewest calls a sustained outage offers an edge, whatever its reference: the limits
/// libraries ship by default lie at or below it (Hystrix opens after 20 requests in its
/// window, resilience4j judges a window of 100 calls, gobreaker and Envoy's outlier
/// detection trip after 5 failures in a row), and it is more than three times the 30 of the
/// catalogue's `outage`, so a limit between the two is what this class finds.
pub const OUTAGE_FLOOR: u32 = 100;

/// The longest a sustained outage is driven, at the reference's rate: one experiment runs on
/// the change and on the base, so 2 minutes of the default budget of 5 at most; an edge whose
/// target does not fit is driven this long (the plan says it was `capped`).
pub const OUTAGE_CEILING: Duration = Duration::from_secs(60);

/// The most workload requests a sustained outage sends, whatever the reference's rate: a
/// workload answered in microseconds still makes a scenario of bounded length.
pub const OUTAGE_MAX_REQUESTS: u32 = 1000;

/// How long a sustained outage is driven, planned from the reference: the edge is to be
/// offered `target_calls` = max([`OUTAGE_TIMES`] × `reference_calls`, [`OUTAGE_FLOOR`])
/// calls, at the rate the reference carried them, within [`OUTAGE_CEILING`] and
/// [`OUTAGE_MAX_REQUESTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutagePlan {
    /// Calls the edge carried in the reference, over the passes it needed (each workload
    /// request counted as one call on an edge whose calls cannot be counted).
    pub reference_calls: u32,
    /// Calls the outage is to offer the edge.
    pub target_calls: u32,
    /// Passes of the workload sent, one request at a time, while the edge is down.
    pub passes: u32,
    /// Workload requests in those passes.
    pub requests: u32,
    /// How long the passes take at the reference's rate, in ms: what the budget must hold
    /// (on each side), before anything the outage itself slows down.
    pub estimate_ms: u64,
    /// The ceiling cut the passes short of `target_calls`.
    pub capped: bool,
}

/// The [`OutagePlan`] of an edge: `edge.calls` over `edge.passes` passes of `per_pass`
/// workload requests each, one pass taking `pass_ms` in the reference.
pub fn outage_plan(edge: &UsedEdge, per_pass: u32, pass_ms: f64) -> OutagePlan {
    let per_pass = per_pass.max(1);
    let passes_needed = edge.passes.max(1);
    let reference_calls = if edge.calls > 0 { edge.calls } else { per_pass * passes_needed };
    let target_calls = (OUTAGE_TIMES * reference_calls).max(OUTAGE_FLOOR);
    // At `reference_calls / passes_needed` calls per pass.
    let needed = (u64::from(target_calls) * u64::from(passes_needed)).div_ceil(u64::from(reference_calls));
    let pass_ms = pass_ms.max(1.0);
    let by_time = (OUTAGE_CEILING.as_millis() as f64 / pass_ms).floor() as u64;
    let by_requests = u64::from(OUTAGE_MAX_REQUESTS / per_pass);
    let passes = needed.min(by_time).min(by_requests).max(u64::from(passes_needed));
    let passes = u32::try_from(passes).unwrap_or(u32::MAX);
    OutagePlan {
        reference_calls,
        target_calls,
        passes,
        requests: passes.saturating_mul(per_pass),
        estimate_ms: (f64::from(passes) * pass_ms).ceil() as u64,
        capped: u64::from(passes) < needed,
    }
}

/// A sustained outage on `edge`: connections refused (as the catalogue's `down` and
/// `outage`) while the whole workload is sent one request at a time, pass after pass (keys
/// of their own per pass; a workload of one step that captures nothing is that step
/// repeated), for as many passes as its [`OutagePlan`] says; then the fault
/// ends and the usual oracles judge what is left: recovery, the invariants, no crash, the
/// attempts per request. While the edge is down, the workload's `under_fault` applies.
///
/// What it finds that a short outage does not: a limit the service keeps and reaches only
/// after dozens of failed calls — a circuit breaker that opens and never half-opens again,
/// an in-memory queue of retries that drops or crashes past its bound, a pool that leaks a
/// connection per failed call, a buffer of logs or metrics that fills. A breaker that opens
/// is no failure by itself (the edge then sees fewer calls than offered, which the report
/// says); one that does not let the service recover is.
pub fn sustained_outage(
    w: &Workload,
    config: &crate::config::Config,
    edge: &UsedEdge,
    reference_ms: f64,
) -> Result<Experiment, InvalidExperiment> {
    let on = edge.name();
    let per_pass: u32 =
        w.faulted.iter().map(|s| s.get("repeat").and_then(Value::as_u64).unwrap_or(1).max(1) as u32).sum();
    let plan = outage_plan(edge, per_pass, reference_ms);
    let steps = sequential(&w.faulted);
    let optional = w.optional.contains(&(edge.from.clone(), edge.to.clone()));
    let steps = if optional { strict(steps) } else { steps };
    let steps = match steps.as_slice() {
        // One step that captures nothing: sent `repeat` times over, each with its own `{n}`.
        [one] if one.get("capture").is_none() => {
            let mut one = one.clone();
            one["repeat"] = json!(plan.requests);
            vec![one]
        }
        _ => repeated(steps, plan.passes),
    };
    let fault = json!({ "on": on, "down": true });
    let mut e = experiment(w, config, OUTAGE_SUSTAINED, &on, Mode::Prolonged, vec![fault], steps, Vec::new())?;
    e.outage = Some(plan);
    Ok(e)
}

/// The experiment whose failure makes `e` a repeat of its finding, by name, and why: a
/// concurrent experiment's twin of one request at a time, a saturation's
/// `slow-under-deadline` of one request at a time on the same edge (the same slow
/// dependency, already failing with no load), a sustained outage's `outage` of 30 requests
/// on the same edge (the same outage, already failing shorter), and a flavour of a transient failure's first
/// flavour ([`TRANSIENT`]: a family stops at its first failure). The runner runs `e` after
/// it, and not at all when it failed.
pub fn twin(e: &Experiment) -> Option<(String, &'static str)> {
    twin_of(&e.name, &e.class, e.mode)
}

/// [`twin`] of the experiment `name` of `class` in `mode`.
fn twin_of(name: &str, class: &str, mode: Mode) -> Option<(String, &'static str)> {
    match mode {
        Mode::Concurrent => name.strip_suffix("-conc").map(|n| (format!("{n}-seq"), "the same fault, one finding")),
        Mode::Saturated => name
            .strip_suffix(&format!("{class}-sat"))
            .map(|n| (format!("{n}slow-under-deadline-seq"), "the same slow dependency, one finding")),
        Mode::Sequential if class != TRANSIENT[0] && family(class).is_some() => {
            let segment = format!("-{class}-");
            let at = name.find(&segment)?;
            let head = format!("{}-{}-{}", &name[..at], TRANSIENT[0], &name[at + segment.len()..]);
            Some((head, "the same transient failure in another flavour, one finding"))
        }
        Mode::Prolonged => name
            .strip_suffix(&format!("{OUTAGE_SUSTAINED}-prolonged"))
            .map(|n| (format!("{n}outage-long"), "the same outage, shorter: one finding")),
        Mode::Sequential | Mode::Sustained => None,
    }
}

/// The experiments that a finding of one stands for the others' (their [`twin`]s, followed
/// to the end) share this lineage, named after the last of them, without its mode: a shard
/// of an exploration runs a whole lineage, so that it skips what the unsharded run skips.
/// From the name alone, as the shards see it.
pub fn lineage(name: &str) -> String {
    let base =
        ["-seq", "-conc", "-sat", "-long", "-prolonged"].iter().find_map(|m| name.strip_suffix(m)).unwrap_or(name);
    if let Some(b) = base.strip_suffix("-saturation") {
        return format!("{b}-slow-under-deadline");
    }
    if let Some(b) = base.strip_suffix(&format!("-{OUTAGE_SUSTAINED}")) {
        return format!("{b}-outage");
    }
    for class in &TRANSIENT[1..] {
        let segment = format!("-{class}");
        let at =
            base.find(&format!("{segment}-")).or_else(|| base.ends_with(&segment).then(|| base.len() - segment.len()));
        if let Some(at) = at {
            return format!("{}-{}{}", &base[..at], TRANSIENT[0], &base[at + segment.len()..]);
        }
    }
    base.to_owned()
}

/// The fault classes of `edge`, in catalogue order: [`classes`], the dependency's own errors
/// ([`dependency_classes`]) right after the transient ones.
fn edge_classes(config: &crate::config::Config, edge: &UsedEdge, d: Duration) -> Vec<(String, Value)> {
    let mut all = classes(edge.http, d);
    let at = all.iter().rposition(|(c, _)| TRANSIENT.contains(&c.as_str())).map_or(all.len(), |i| i + 1);
    all.splice(at..at, dependency_classes(config, edge));
    all
}

/// The fault classes of an edge but the dependency's own errors, in catalogue order (see
/// the module's table).
fn classes(http: bool, d: Duration) -> Vec<(String, Value)> {
    let mut classes: Vec<(&str, Value)> = vec![("down", json!({ "down": true }))];
    if http {
        classes.extend([
            ("slow-past-deadline", json!({ "http": { "delay": dur(d + Duration::from_secs(1)) } })),
            ("slow-under-deadline", json!({ "http": { "delay": dur(d / 2) } })),
        ]);
        classes.extend(TRANSIENT.iter().map(|class| (*class, transient(class))));
        classes.extend([
            ("throttled", json!({ "http": { "status": 429, "headers": { "Retry-After": "3600" } } })),
            ("unavailable", json!({ "http": { "status": 503, "headers": { "Retry-After": "3600" } } })),
            ("reply-lost", json!({ "http": { "drop": "reset", "first": 1 } })),
            ("reset-mid-response", json!({ "limit_data": 64 })),
            ("blackhole", json!({ "blackhole": true })),
        ]);
    } else {
        // A database or cache protocol: a request delayed past the client's deadline would
        // still run after the client gave up (a commit nobody hears of), which services are
        // not built to reconcile; an unresponsive server that closes the connection after
        // the deadline is the failure they must handle.
        classes.extend([
            ("unresponsive", json!({ "timeout": dur(d + Duration::from_secs(1)), "direction": "both" })),
            ("slow-under-deadline", json!({ "latency": dur(d / 20) })),
            ("reset-mid-response", json!({ "reset": "100ms" })),
        ]);
    }
    classes.into_iter().map(|(c, f)| (c.to_owned(), f)).collect()
}

/// The fault classes that are one transient failure in different flavours: the first 2
/// requests answered 503, 502, 504 or 500, each with the body an intermediary sends, or
/// reset before they reach the dependency. The first is the one the others are compared
/// with.
pub const TRANSIENT: &[&str] =
    &["errors-first", "errors-first-502", "errors-first-504", "errors-first-500", LARGE_ERROR, "reset-first"];

/// The transient flavour with a large body in an odd charset: run one request at a time
/// only ([`once`]).
pub const LARGE_ERROR: &str = "errors-first-large";

/// How large [`LARGE_ERROR`]'s HTML page is: far more than a client's usual read buffer
/// (8 or 64 KiB), less than any sane limit on a response.
pub const LARGE_ERROR_BYTES: usize = 256 * 1024;

/// nginx's own error page for a 502 (`proxy_pass` to a dead upstream), byte for byte.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The fault of a class of [`TRANSIENT`]: its status on the first 2 requests, with the body
/// and content type real intermediaries send with it (see the module's table).
fn transient(class: &str) -> Value {
    let respond = |status: u16, body: String, content_type: Option<&str>| {
        let mut f = json!({ "http": { "status": status, "first": 2 } });
        if !body.is_empty() {
            f["http"]["body"] = json!(body);
        }
        if let Some(t) = content_type {
            f["http"]["headers"] = json!({ "Content-Type": t });
        }
        f
    };
    match class {
        "errors-first" => respond(503, problem(503), Some("application/problem+json")),
        "errors-first-502" => respond(502, NGINX_502.to_owned(), Some("text/html")),
        "errors-first-504" => respond(504, "upstream request timeout".to_owned(), Some("text/plain")),
        "errors-first-500" => respond(500, String::new(), None),
        LARGE_ERROR => {
            let mut f = respond(503, LARGE_LINE.to_owned(), Some("text/html; charset=iso-8859-1"));
            f["http"]["body_bytes"] = json!(LARGE_ERROR_BYTES);
            f
        }
        _ => json!({ "http": { "drop": "before", "first": 2 } }),
    }
}

/// An RFC 9457 problem body for `status`, as an API gateway or the dependency's framework
/// sends it.
fn problem(status: u16) -> String {
    json!({ "type": "about:blank", "title": crate::fault::http::reason(status), "status": status }).to_string()
}

/// A line of a gateway's HTML error page with a long diagnostic, repeated to
/// [`LARGE_ERROR_BYTES`] (the debug pages of application servers carry a stack trace and
/// every header): the scenario file says it once, with `body_bytes`.
const LARGE_LINE: &str = "<p>503 Service Unavailable: upstream connect error or disconnect/reset before headers</p>\n";

/// Whether `class` runs one request at a time only: the large error page (the same
/// transient failure as `errors-first`, its body the only difference) and the dependency's
/// own errors ([`dependency_statuses`]).
fn once(class: &str) -> bool {
    class == LARGE_ERROR || class.starts_with(DEPENDENCY)
}

/// The start of the class of an experiment with one of the dependency's own error statuses
/// (`dependency-404`).
pub const DEPENDENCY: &str = "dependency-";

/// The name `explore.classes` selects every `dependency-NNN` class with.
pub const DEPENDENCY_ERRORS: &str = "dependency-errors";

/// Statuses the catalogue answers already (`throttled`, [`TRANSIENT`], `unavailable`): a
/// dependency's own 503 adds no experiment.
const CATALOGUED: &[u16] = &[429, 500, 502, 503, 504];

/// The dependency's own error statuses that get an experiment on an HTTP edge: those
/// `declared` on the edge (`errors:` in faultline.yaml), then those `seen` in the reference,
/// each once, 400-599, but those the catalogue answers already ([`CATALOGUED`]).
pub fn dependency_statuses(declared: &[u16], seen: &[u16]) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    for s in declared.iter().chain(seen) {
        if (400..=599).contains(s) && !CATALOGUED.contains(s) && !out.contains(s) {
            out.push(*s);
        }
    }
    out
}

/// The classes of the dependency's own errors on `edge` ([`dependency_statuses`]), each the
/// first 2 requests answered with the status and a problem body, as an API answers: not a
/// transient failure but an answer, so no member of a family.
fn dependency_classes(config: &crate::config::Config, edge: &UsedEdge) -> Vec<(String, Value)> {
    if !edge.http {
        return Vec::new();
    }
    let declared = config
        .services
        .get(&edge.from)
        .and_then(|s| s.depends_on.get(&edge.to))
        .map(|d| d.errors.as_slice())
        .unwrap_or_default();
    dependency_statuses(declared, &edge.statuses)
        .into_iter()
        .map(|s| {
            let fault = json!({ "http": { "status": s, "first": 2, "body": problem(s),
                "headers": { "Content-Type": "application/problem+json" } } });
            (format!("{DEPENDENCY}{s}"), fault)
        })
        .collect()
}

/// The family of a fault class, if it has one: faults that must leave the workload's client
/// with the same outcome on the same edge (`transient`, [`TRANSIENT`]).
pub fn family(class: &str) -> Option<&'static str> {
    TRANSIENT.contains(&class).then_some("transient")
}

/// What a class of [`TRANSIENT`] does, in a few words: `503 (a JSON problem)`, `a reset`.
pub fn flavour(class: &str) -> &'static str {
    match class {
        "errors-first" => "503 (a JSON problem)",
        "errors-first-502" => "502 (nginx's HTML page)",
        "errors-first-504" => "504 (plain text)",
        "errors-first-500" => "500 (empty)",
        LARGE_ERROR => "503 (a 256 KiB HTML page, ISO-8859-1)",
        "reset-first" => "a reset before the reply",
        _ => "another fault",
    }
}

/// The experiments of an edge that carried traffic only while `trigger`'s fault was on (a
/// fallback): each fault class of the catalogue on `edge`, with the trigger's faults and
/// steps (so its mode) at the same time — two faults, one experiment per class.
pub fn fallback(
    w: &Workload,
    config: &crate::config::Config,
    edge: &UsedEdge,
    trigger: &Experiment,
) -> Result<Vec<Experiment>, InvalidExperiment> {
    let on = edge.name();
    let with = format!("{} on {}", trigger.class, trigger.on);
    let mut out = Vec::new();
    for (class, fault) in edge_classes(config, edge, w.deadline).into_iter().filter(|(c, _)| w.runs(c)) {
        let mut f = fault;
        f["on"] = json!(on);
        let mut faults = trigger.faults.clone();
        faults.push(f);
        let mut e = experiment(
            w,
            config,
            &format!("{class}-while-{}-{}", slug(&trigger.on), trigger.class),
            &on,
            trigger.mode,
            faults,
            trigger.steps.clone(),
            Vec::new(),
        )?;
        e.class = class;
        e.with = Some(with.clone());
        e.outage = trigger.outage;
        out.push(e);
    }
    Ok(out)
}

/// Two faults at once (Filibuster's dynamic reduction chooses which: `runner::fault_search`):
/// the single faults of `a` and `b`, on two different edges, together, the workload one
/// request at a time over the passes either edge needs (only their success statuses
/// acceptable when both edges are `optional`). Named after both ([`pair_name`]); its class is
/// `a`'s, and `with` names `b`'s fault.
pub fn pair(
    w: &Workload,
    config: &crate::config::Config,
    used: &[UsedEdge],
    a: &Experiment,
    b: &Experiment,
) -> Result<Experiment, InvalidExperiment> {
    let edge = |on: &str| used.iter().find(|u| u.name() == on);
    let passes = [&a.on, &b.on].iter().filter_map(|on| edge(on)).map(|u| u.passes).max().unwrap_or(1);
    let optional =
        [&a.on, &b.on].iter().all(|on| edge(on).is_some_and(|u| w.optional.contains(&(u.from.clone(), u.to.clone()))));
    let steps = sequential(&w.faulted);
    let steps = repeated(if optional { strict(steps) } else { steps }, passes);
    let faults: Vec<Value> = a.faults.iter().chain(&b.faults).cloned().collect();
    let class = format!("{}-and-{}-{}", a.class, slug(&b.on), b.class);
    let mut e = experiment(w, config, &class, &a.on, Mode::Sequential, faults, steps, Vec::new())?;
    e.class = a.class.clone();
    e.with = Some(format!("{} on {}", b.class, b.on));
    Ok(e)
}

/// The class of a dependency held for half its client's own deadline: under it, so the
/// client waits and the service must answer as without faults.
pub const SLOW_UNDER_CLIENT_DEADLINE: &str = "slow-under-client-deadline";

/// The class of a dependency held for 1.5 times its client's own deadline: past it, so every
/// attempt gives up, and the dependency's answers land while the workload still runs.
pub const SLOW_PAST_CLIENT_DEADLINE: &str = "slow-past-client-deadline";

/// The end of the class of a magnitude of the change's own deadline where the base showed
/// another (`slow-under-client-deadline-of-change`): the magnitudes are the base's deadline's,
/// and the change's too, named apart.
pub const OF_CHANGE: &str = "-of-change";

/// The dependency of `edge` held for `delay`, a magnitude of its client's own deadline (the
/// runner finds the deadline and chooses the magnitudes: `runner::fault_search`), the
/// workload one request at a time over the passes the edge needs; each step `succeed` marks
/// must answer as it did without faults, only its success statuses (2xx) acceptable (as
/// every step on an `optional` edge).
pub fn magnitude(
    w: &Workload,
    config: &crate::config::Config,
    edge: &UsedEdge,
    class: &str,
    delay: Duration,
    succeed: &[bool],
) -> Result<Experiment, InvalidExperiment> {
    let on = edge.name();
    let optional = w.optional.contains(&(edge.from.clone(), edge.to.clone()));
    let steps: Vec<Value> = sequential(&w.faulted)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let must = optional || succeed.get(i).copied().unwrap_or(false);
            if must { strict(vec![s]).remove(0) } else { s }
        })
        .collect();
    let fault = json!({ "on": on, "http": { "delay": dur(delay) } });
    experiment(w, config, class, &on, Mode::Sequential, vec![fault], repeated(steps, edge.passes), Vec::new())
}

/// The name of the [`pair`] of `a` and `b` (for a pair not run, too).
pub fn pair_name(w: &Workload, a: &Experiment, b: &Experiment) -> String {
    format!("explore-{}-{}-{}-and-{}-{}-seq", slug(&w.service), slug(&a.on), a.class, slug(&b.on), b.class)
}

#[allow(clippy::too_many_arguments)]
fn experiment(
    w: &Workload,
    config: &crate::config::Config,
    class: &str,
    on: &str,
    mode: Mode,
    faults: Vec<Value>,
    steps: Vec<Value>,
    extra: Vec<Value>,
) -> Result<Experiment, InvalidExperiment> {
    let name = if on.is_empty() {
        format!("explore-{}-{}", slug(&w.service), slug(class))
    } else {
        let m = match mode {
            Mode::Sequential => "seq",
            Mode::Concurrent => "conc",
            Mode::Sustained => "long",
            Mode::Saturated => "sat",
            Mode::Prolonged => "prolonged",
        };
        format!("explore-{}-{}-{}-{m}", slug(&w.service), slug(on), class)
    };
    let (text, _) = build(w, &name, &faults, &steps, &extra);
    let scenario = match super::parse(&format!("{name}.yaml"), text.clone(), config) {
        Ok(s) => s,
        Err(error) => return Err(InvalidExperiment { name, error }),
    };
    let (class, on) = (class.to_owned(), on.to_owned());
    Ok(Experiment { name, class, on, mode, with: None, faults, steps, text, scenario, outage: None })
}

/// The scenario file of an experiment: its faults, the steps, then the oracles.
fn build(w: &Workload, name: &str, faults: &[Value], steps: &[Value], extra: &[Value]) -> (String, Value) {
    let mut checks: Vec<Value> = Vec::new();
    if let Some(first) = w.steps.first() {
        let mut r = json!({ "request": first["request"], "within": "20s" });
        if let Some(b) = first.get("body") {
            r["body"] = retry_keys(b);
        }
        if let Some(f) = first.get("form") {
            r["form"] = retry_keys(f);
        }
        if let Some(h) = first.get("headers") {
            r["headers"] = retry_keys(h);
        }
        let ok: Vec<u64> = first
            .pointer("/expect/status")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_u64).filter(|s| (200..300).contains(s)).collect())
            .unwrap_or_default();
        if !ok.is_empty() {
            r["status"] = json!(ok);
        }
        if !faults.is_empty() {
            checks.push(json!({ "recovers": r }));
        }
    }
    for s in &w.own {
        checks.push(json!({ "logs": { "service": s, "forbid": CRASH_PATTERNS } }));
    }
    // Readiness may fail while a dependency is faulted, and must come back after.
    for (s, path) in &w.readiness {
        checks.push(json!({ "recovers": { "request": format!("GET {s} {path}"), "within": "20s" } }));
    }
    for inv in &w.invariants {
        let mut inv = inv.clone();
        let when = inv.as_object_mut().and_then(|o| o.remove("when"));
        let applies = match (when.as_ref().and_then(Value::as_str), &w.stack) {
            (Some(service), Some(stack)) => stack.iter().any(|s| s == service),
            _ => true,
        };
        if applies {
            checks.push(inv);
        }
    }
    checks.extend(extra.iter().cloned());
    // Liveness must not follow a dependency: probed while the fault is in place, on every
    // service but one the fault itself pauses, kills or stops.
    let stopped: Vec<&str> = faults.iter().filter_map(|f| f["on"].as_str()).filter(|on| !on.contains("->")).collect();
    let probes: Vec<Value> = w
        .liveness
        .iter()
        .filter(|(s, _)| !stopped.contains(&s.as_str()))
        .map(|(s, path)| json!({ "request": format!("GET {s} {path}") }))
        .collect();
    /// The keys in the order people write them (a JSON map would sort them).
    #[derive(serde::Serialize)]
    struct File<'a> {
        name: &'a str,
        target: &'a str,
        why: &'a str,
        faults: &'a [Value],
        steps: &'a [Value],
        checks: &'a [Value],
        #[serde(skip_serializing_if = "<[Value]>::is_empty")]
        probes: &'a [Value],
    }
    let file = File {
        name,
        target: &w.service,
        why: "TODO: why the system must survive this (found by faultline explore)",
        faults,
        steps,
        checks: &checks,
        probes: &probes,
    };
    let text = serde_yaml::to_string(&file).unwrap_or_default();
    (text, serde_json::to_value(&file).unwrap_or_default())
}

/// `{n}` in the recovery request's strings becomes `retry-{n}`, so it never reuses a key
/// of the workload's own requests.
fn retry_keys(v: &Value) -> Value {
    renamed(v, "retry-{n}")
}

/// `{n}` in every string of `v` replaced by `with`.
fn renamed(v: &Value, with: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{n}", with)),
        Value::Array(a) => Value::Array(a.iter().map(|v| renamed(v, with)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), renamed(v, with))).collect()),
        other => other.clone(),
    }
}

/// The steps with only their success statuses (2xx) acceptable: for faults on what the
/// service declares it can do without.
fn strict(steps: Vec<Value>) -> Vec<Value> {
    steps
        .into_iter()
        .map(|mut s| {
            if let Some(list) = s.pointer_mut("/expect/status").and_then(Value::as_array_mut) {
                let ok: Vec<Value> =
                    list.iter().filter(|v| v.as_u64().is_some_and(|c| (200..300).contains(&c))).cloned().collect();
                if !ok.is_empty() {
                    *list = ok;
                }
            }
            s
        })
        .collect()
}

/// `steps` `passes` times in a row (at least once); from the second pass on, `{n}` in
/// bodies, forms and headers becomes `pass{k}-{n}`, so a pass never reuses a key of an earlier one
/// (an idempotency key replayed is not a new request). The request line keeps `{n}` (a
/// path may need a number).
fn repeated(steps: Vec<Value>, passes: u32) -> Vec<Value> {
    let mut out = steps.clone();
    for k in 2..=passes {
        out.extend(steps.iter().map(|s| {
            let mut s = s.clone();
            for key in ["body", "form", "headers"] {
                if let Some(v) = s.get_mut(key) {
                    *v = renamed(v, &format!("pass{k}-{{n}}"));
                }
            }
            s
        }));
    }
    out
}

fn sequential(steps: &[Value]) -> Vec<Value> {
    steps
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s["concurrency"] = json!(1);
            s
        })
        .collect()
}

fn concurrent(steps: &[Value]) -> Vec<Value> {
    steps
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let repeat = s.get("repeat").and_then(Value::as_u64).unwrap_or(1).max(4);
            s["repeat"] = json!(repeat);
            s["concurrency"] = json!(4);
            s
        })
        .collect()
}

/// The first request 30 times in a row: long enough for a leak or a stuck pool to show.
fn sustained(steps: &[Value]) -> Vec<Value> {
    let mut s = sequential(&steps[..steps.len().min(1)]);
    if let Some(first) = s.first_mut() {
        first["repeat"] = json!(30);
    }
    s
}

fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_slugs_and_retries_use_their_own_keys() {
        assert_eq!(slug("orders -> payments"), "orders-payments");
        assert_eq!(retry_keys(&json!({ "Idempotency-Key": "k-{n}" })), json!({ "Idempotency-Key": "k-retry-{n}" }));
        let c = concurrent(&[json!({ "request": "GET a /", "repeat": 2 })]);
        assert_eq!((c[0]["repeat"].as_u64(), c[0]["concurrency"].as_u64()), (Some(4), Some(4)));
        assert_eq!(sustained(&[json!({ "request": "GET a /" })])[0]["repeat"], json!(30));
    }

    #[test]
    fn the_dependencys_own_statuses_are_declared_then_seen_once_each_errors_only() {
        assert_eq!(dependency_statuses(&[409, 404], &[404, 422]), [409, 404, 422]);
        // 2xx, 3xx and what the catalogue answers already add nothing.
        assert_eq!(dependency_statuses(&[200, 503], &[304, 429, 500, 502, 504, 410]), [410]);
        assert!(dependency_statuses(&[], &[]).is_empty());
        assert!(once("dependency-404") && once(LARGE_ERROR) && !once("errors-first") && !once("down"));
    }

    #[test]
    fn each_transient_flavour_carries_the_body_an_intermediary_sends() {
        let http = |class: &str| transient(class)["http"].clone();
        let problem: Value = serde_json::from_str(http("errors-first")["body"].as_str().unwrap()).unwrap();
        assert_eq!((problem["status"].as_u64(), problem["title"].as_str()), (Some(503), Some("Service Unavailable")));
        assert!(http("errors-first-502")["body"].as_str().unwrap().starts_with("<html>\r\n<head><title>502"));
        assert_eq!(http("errors-first-504")["body"], "upstream request timeout");
        assert_eq!(http("errors-first-500")["status"], 500);
        assert!(http("errors-first-500").get("body").is_none() && http("errors-first-500").get("headers").is_none());
        assert_eq!(http("reset-first")["drop"], "before");
        // Each flavour is named by what differs, and every flavour of the family has a fault.
        let flavours: std::collections::BTreeSet<&str> = TRANSIENT.iter().map(|c| flavour(c)).collect();
        assert_eq!(flavours.len(), TRANSIENT.len());
        for class in TRANSIENT {
            assert_eq!(family(class), Some("transient"));
            let f = http(class);
            assert!(f["first"] == 2, "{class}: {f}");
        }
        assert_eq!(family("dependency-404"), None);
    }

    #[test]
    fn under_fault_replaces_the_keys_of_expect_it_names_and_nothing_else() {
        let step = json!({
            "request": "POST a /x",
            "expect": { "status": [201], "within": "3s" },
            "under_fault": { "status": [201, 503] },
        });
        assert_eq!(
            under_fault(&step),
            json!({ "request": "POST a /x", "expect": { "status": [201, 503], "within": "3s" } })
        );
        assert_eq!(without(&step, "under_fault").get("under_fault"), None);
        let bare = json!({ "request": "GET a /", "under_fault": { "within": "5s" } });
        assert_eq!(under_fault(&bare)["expect"], json!({ "within": "5s" }));
    }

    #[test]
    fn forms_get_keys_of_their_own_per_pass_and_level() {
        let steps = vec![json!({ "request": "POST a /s", "form": { "email": "r{n}@x" } })];
        assert_eq!(repeated(steps.clone(), 2)[1]["form"]["email"], json!("rpass2-{n}@x"));
        assert_eq!(saturated(&steps)[1]["form"]["email"], json!("rat64-{n}@x"));
    }

    #[test]
    fn saturation_grows_to_16_then_64_at_once_with_keys_of_its_own() {
        let steps = [json!({ "request": "POST a /x", "headers": { "Idempotency-Key": "k-{n}" }, "repeat": 2 })];
        let s = saturated(&steps);
        let at = |i: usize| (s[i]["repeat"].as_u64(), s[i]["concurrency"].as_u64());
        assert_eq!((s.len(), at(0), at(1)), (2, (Some(16), Some(16)), (Some(64), Some(64))));
        assert_eq!(s[0]["headers"]["Idempotency-Key"], json!("k-at16-{n}"));
        assert_eq!(s[1]["headers"]["Idempotency-Key"], json!("k-at64-{n}"));
    }

    #[test]
    fn a_twin_is_the_same_slow_dependency_one_request_at_a_time() {
        let name = |t: Option<(String, &str)>| t.map(|(n, _)| n);
        let sat = twin_of("explore-api-api-db-saturation-sat", "saturation", Mode::Saturated);
        assert_eq!(name(sat).as_deref(), Some("explore-api-api-db-slow-under-deadline-seq"));
        let conc = twin_of("explore-api-api-db-down-conc", "down", Mode::Concurrent);
        assert_eq!(name(conc).as_deref(), Some("explore-api-api-db-down-seq"));
        assert_eq!(twin_of("explore-api-api-db-down-seq", "down", Mode::Sequential), None);
    }

    #[test]
    fn a_flavour_of_a_transient_failure_waits_for_the_first_flavour_and_shares_its_lineage() {
        let name = |n: &str, class: &str, mode| twin_of(n, class, mode).map(|(n, _)| n);
        let head = "explore-api-api-db-errors-first-seq";
        assert_eq!(
            name("explore-api-api-db-errors-first-502-seq", "errors-first-502", Mode::Sequential).as_deref(),
            Some(head)
        );
        assert_eq!(name("explore-api-api-db-reset-first-seq", "reset-first", Mode::Sequential).as_deref(), Some(head));
        assert_eq!(name(head, "errors-first", Mode::Sequential), None, "the first flavour waits for nothing");
        let fallback = "explore-api-api-cache-errors-first-500-while-api-db-down-seq";
        assert_eq!(
            name(fallback, "errors-first-500", Mode::Sequential).as_deref(),
            Some("explore-api-api-cache-errors-first-while-api-db-down-seq")
        );
        // Every experiment of a chain of twins has one lineage, whatever its mode.
        for n in [
            head,
            "explore-api-api-db-errors-first-conc",
            "explore-api-api-db-errors-first-502-seq",
            "explore-api-api-db-errors-first-504-conc",
            "explore-api-api-db-reset-first-conc",
        ] {
            assert_eq!(lineage(n), "explore-api-api-db-errors-first", "{n}");
        }
        assert_eq!(lineage("explore-api-api-db-saturation-sat"), lineage("explore-api-api-db-slow-under-deadline-seq"));
        assert_eq!(lineage(fallback), "explore-api-api-cache-errors-first-while-api-db-down");
        assert_eq!(lineage("explore-api-api-db-down-seq"), "explore-api-api-db-down");
    }

    #[test]
    fn a_sustained_outage_offers_k_times_the_reference_at_least_the_floor_within_the_ceiling() {
        let edge = |calls: u32, passes: u32| UsedEdge {
            from: "api".into(),
            to: "db".into(),
            http: true,
            passes,
            statuses: Vec::new(),
            calls,
            first: None,
        };
        // 1 call per pass of 1 request, 20 ms a pass: the floor, 100 passes, 2 s.
        let p = outage_plan(&edge(1, 1), 1, 20.0);
        assert_eq!((p.reference_calls, p.target_calls, p.passes, p.requests), (1, OUTAGE_FLOOR, 100, 100));
        assert_eq!((p.estimate_ms, p.capped), (2000, false));
        // A long workload: 10 times its 30 calls per pass of 12 requests, 10 passes.
        let p = outage_plan(&edge(30, 1), 12, 50.0);
        assert_eq!((p.target_calls, p.passes, p.requests), (300, 10, 120));
        // Called every 3rd pass: 1 call in 3 passes, the floor needs 300 passes.
        assert_eq!(outage_plan(&edge(1, 3), 1, 10.0).passes, 300);
        // A pool's calls cannot be counted: a call per workload request.
        assert_eq!(outage_plan(&edge(0, 1), 4, 10.0).reference_calls, 4);
        // A slow pass: the time ceiling cuts it, and says so.
        let p = outage_plan(&edge(1, 1), 1, 1500.0);
        assert_eq!((p.passes, p.capped), (40, true));
        assert!(p.estimate_ms <= OUTAGE_CEILING.as_millis() as u64);
        // A quick pass: the request ceiling does.
        let p = outage_plan(&edge(1, 1), 50, 1.0);
        assert_eq!((p.requests, p.capped), (OUTAGE_MAX_REQUESTS, true));
        // Never fewer passes than the edge needs to carry traffic at all.
        assert_eq!(outage_plan(&edge(1, 4), 1, 60_000.0).passes, 4);
    }

    #[test]
    fn a_sustained_outage_waits_for_the_short_outage_and_shares_its_lineage() {
        let name = "explore-api-api-db-outage-sustained-prolonged";
        let t = twin_of(name, OUTAGE_SUSTAINED, Mode::Prolonged).map(|(n, _)| n);
        assert_eq!(t.as_deref(), Some("explore-api-api-db-outage-long"));
        assert_eq!(lineage(name), lineage("explore-api-api-db-outage-long"));
        assert_eq!(twin_of("explore-api-api-db-outage-long", "outage", Mode::Sustained), None);
    }

    #[test]
    fn passes_repeat_the_steps_with_keys_of_their_own() {
        let steps = vec![
            json!({ "request": "POST a /x/{n}", "headers": { "Idempotency-Key": "k-{n}" }, "body": { "id": "{n}" } }),
            json!({ "request": "GET a /" }),
        ];
        let r = repeated(steps.clone(), 3);
        assert_eq!(r.len(), 6);
        assert_eq!(r[..2], steps[..], "the first pass is the workload as written");
        assert_eq!(r[2]["headers"]["Idempotency-Key"], json!("k-pass2-{n}"));
        assert_eq!(r[4]["body"]["id"], json!("pass3-{n}"));
        assert_eq!(r[4]["request"], json!("POST a /x/{n}"), "the request line keeps its number");
        assert_eq!(repeated(steps.clone(), 0), steps, "at least once");
    }
}
