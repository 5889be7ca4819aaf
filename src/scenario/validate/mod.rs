//! Checks a scenario against the configuration and builds what the runner executes. Every
//! problem is located (file, line, column) and lists the valid names.
//!
//! This file is the core: [`parse`] and the [`Validator`] with what every part needs (the
//! stack's services and edges, request lines, a kind's keys). The faults are validated in
//! `fault.rs`, the steps in `step.rs`, the checks in `check.rs` (each kind of check in its
//! own file of `super::check`).

mod check;
mod fault;
mod probe;
mod step;

use serde::de::DeserializeOwned;

use super::model::{Check, ScenarioFile};
use super::template::{self, Locator};
use crate::config::ServiceGraph;
use crate::config::diagnostic::nearest;
use crate::config::{Config, ConfigError, FileDiagnostic, Seg, SourceFile};
use crate::fault::written;
use crate::ypath;

pub use super::check::{CHECK_KINDS, CheckKind, SqlExpect, kind_of};
pub(crate) use check::MAX_SETTLE;
pub use fault::{FaultTarget, TimedFault};
pub use probe::{DEFAULT_EVERY, DEFAULT_WITHIN, HealthProbe};
pub use step::{Body, Capture, Expectation, RequestStep, StepKind};

/// `METHOD SERVICE PATH`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestLine {
    pub method: String,
    pub service: String,
    pub path: String,
}

impl std::fmt::Display for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.method, self.service, self.path)
    }
}

/// A validated scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub target: String,
    pub why: String,
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line of each check in the file, for annotations.
    pub check_lines: Vec<usize>,
    /// Services the scenario's stack starts: the target and what it depends on.
    pub stack: Vec<String>,
    /// The same services in the levels that start together (level 0 depends on nothing).
    pub levels: Vec<Vec<String>>,
    pub faults: Vec<TimedFault>,
    pub steps: Vec<StepKind>,
    pub checks: Vec<CheckKind>,
    /// Per check: `Some(bound)` when it is written `settled: true`, judged again until it
    /// holds or the system has been quiet for the bound.
    pub settle: Vec<Option<std::time::Duration>>,
    /// Health endpoints probed while the steps run (`probes:`), with their lines.
    pub probes: Vec<HealthProbe>,
    pub probe_lines: Vec<usize>,
    /// Runs on a stack of its own (`fresh: true`), not a shared one reset between scenarios.
    pub fresh: bool,
}

/// Parses and validates a scenario file against `config`; a file that uses a template is
/// filled in first (see [`super::template`]).
pub fn parse(file: &str, text: String, config: &Config) -> Result<Scenario, ConfigError> {
    let src = SourceFile::new(file, text);
    src.check_nesting().map_err(|d| ConfigError::invalid(&src, vec![*d]))?;
    let raw: ScenarioFile = serde_yaml::from_str(&src.text)
        .map_err(|e| ConfigError::invalid(&src, vec![FileDiagnostic::from_serde(&src, &e)]))?;
    let (raw, locator) = if raw.uses.is_some() {
        template::expand(&src, raw, config)?
    } else {
        if !raw.with.is_empty() {
            let d = FileDiagnostic::at_key(&src, &ypath!["with"], "`with` gives a template its parameters")
                .with_help("add `use: TEMPLATE` (see `faultline templates`), or remove `with`");
            return Err(ConfigError::invalid(&src, vec![d]));
        }
        if !raw.drop_checks.is_empty() {
            let d =
                FileDiagnostic::at_key(&src, &ypath!["drop_checks"], "`drop_checks` leaves out a template's checks")
                    .with_help("a scenario without `use:` has only its own checks: remove the ones you do not want");
            return Err(ConfigError::invalid(&src, vec![d]));
        }
        (raw, Locator::default())
    };
    let mut missing = Vec::new();
    for (key, set) in [("target", raw.target.is_some()), ("why", raw.why.is_some())] {
        if !set {
            missing.push(FileDiagnostic::at_key(&src, &[], format!("a scenario needs `{key}`")).with_help(
                if key == "why" {
                    "say why the system must survive this: it is quoted when a check fails"
                } else {
                    "the service the scenario protects, e.g. `target: orders`"
                },
            ));
        }
    }
    if !missing.is_empty() {
        return Err(ConfigError::invalid(&src, missing));
    }
    let target = raw.target.clone().unwrap_or_default();
    let mut v =
        Validator { src: &src, locator: &locator, config, problems: Vec::new(), stack: Vec::new(), levels: Vec::new() };
    let graph = ServiceGraph::new(config);
    let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
    match graph.index(&target) {
        Some(t) => {
            let mut marked = vec![false; graph.len()];
            marked[t] = true;
            let closure = graph.forward_closure(&marked);
            v.levels = graph.start_levels(&closure);
            v.stack = v.levels.iter().flatten().cloned().collect();
        }
        None => {
            v.err(&ypath!["target"], format!("target `{target}` is not a service"), Some(suggest(&target, &names)));
            return Err(ConfigError::invalid(&src, v.problems));
        }
    }
    let faults = raw.faults.iter().enumerate().filter_map(|(i, f)| v.fault(i, f)).collect();
    let steps: Vec<StepKind> = raw.steps.iter().enumerate().filter_map(|(i, s)| v.step(i, s)).collect();
    let checks = raw.checks.iter().enumerate().filter_map(|(i, c)| v.check(i, c)).collect();
    let probes = raw.probes.iter().enumerate().filter_map(|(i, p)| v.probe(i, p)).collect();
    let settle = settle_bounds(&raw.checks, &steps);
    // A scenario that sends nothing proves nothing: every step but `sleep` exercises the
    // system and checks what it answers (a request's status, a command's exit code).
    if v.problems.is_empty() && !steps.iter().any(|s| !matches!(s, StepKind::Sleep(_))) {
        let at: Vec<Seg> = if raw.steps.is_empty() { Vec::new() } else { ypath!["steps"].to_vec() };
        let mut d = FileDiagnostic::at_key(
            &src,
            &at,
            "this scenario exercises nothing: it has no request, load, exec or nextest step",
        );
        d.help = Some(
            "a scenario passes only if something was sent and judged; add e.g. \
             `steps: [{ request: GET orders /health, expect: { status: [200] } }]`"
                .into(),
        );
        v.problems.push(d);
    }
    if !v.problems.is_empty() {
        v.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        return Err(ConfigError::invalid(&src, v.problems));
    }
    let stem = std::path::Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Scenario {
        name: raw.name.unwrap_or(stem),
        target,
        why: raw.why.unwrap_or_default().trim().to_owned(),
        file: file.to_owned(),
        check_lines: (0..raw.checks.len()).map(|i| locator.line(&src, &ypath!["checks", i])).collect(),
        stack: v.stack,
        levels: v.levels,
        faults,
        steps,
        checks,
        settle,
        probe_lines: (0..raw.probes.len()).map(|i| locator.line(&src, &ypath!["probes", i])).collect(),
        probes,
        fresh: raw.fresh,
    })
}

/// Each check's settling bound: `within`, else three times the longest `within` of the
/// requests (5 s when none says); `None` for a check not written `settled: true`.
fn settle_bounds(checks: &[Check], steps: &[StepKind]) -> Vec<Option<std::time::Duration>> {
    let deadline = steps
        .iter()
        .filter_map(|s| match s {
            StepKind::Request(r) => r.expect.within,
            StepKind::Load { expect, .. } => expect.within,
            _ => None,
        })
        .max()
        .unwrap_or(std::time::Duration::from_secs(5));
    checks.iter().map(|c| c.settled.then(|| c.within.map_or((deadline * 3).min(MAX_SETTLE), |w| w.0))).collect()
}

fn suggest(word: &str, valid: &[&str]) -> String {
    match nearest(word, valid.iter().copied()) {
        Some(n) => format!("did you mean `{n}`? valid: {}", crate::config::diagnostic::listing(valid)),
        None => format!("valid: {}", crate::config::diagnostic::listing(valid)),
    }
}

/// What every part of a scenario is validated with: where problems go, the configuration
/// and the scenario's stack.
pub(crate) struct Validator<'a> {
    src: &'a SourceFile,
    locator: &'a Locator<'static>,
    config: &'a Config,
    problems: Vec<FileDiagnostic>,
    stack: Vec<String>,
    levels: Vec<Vec<String>>,
}

impl Validator<'_> {
    /// A problem at `path`, located through the template when the scenario uses one.
    pub(crate) fn err(&mut self, path: &[Seg], msg: impl Into<String>, help: Option<String>) {
        let mut d = self.locator.at_value(self.src, path, msg);
        d.help = help;
        self.problems.push(d);
    }

    /// A service of the scenario's stack, or a located problem.
    pub(crate) fn service(&mut self, path: &[Seg], name: &str) -> Option<String> {
        if self.stack.iter().any(|s| s == name) {
            return Some(name.to_owned());
        }
        let stack: Vec<&str> = self.stack.iter().map(String::as_str).collect();
        let msg = if self.config.services.contains_key(name) {
            format!("`{name}` is not in this scenario's stack (the target and what it depends on)")
        } else {
            format!("`{name}` is not a service")
        };
        self.err(path, msg, Some(suggest(name, &stack)));
        None
    }

    /// `a -> b` where `a` depends on `b` and both are in the stack.
    pub(crate) fn edge(&mut self, path: &[Seg], text: &str) -> Option<(String, String)> {
        let (from, to) = text.split_once("->").map(|(a, b)| (a.trim(), b.trim()))?;
        let edges: Vec<String> = self
            .stack
            .iter()
            .flat_map(|s| self.config.services[s].depends_on.keys().map(move |d| format!("{s} -> {d}")))
            .collect();
        let known = self.config.services.get(from).is_some_and(|s| s.depends_on.contains_key(to));
        if !known || !self.stack.iter().any(|s| s == from) {
            let refs: Vec<&str> = edges.iter().map(String::as_str).collect();
            self.err(
                path,
                format!("`{from} -> {to}` is not an edge of this scenario's stack"),
                Some(suggest(text, &refs)),
            );
            return None;
        }
        Some((from.to_owned(), to.to_owned()))
    }

    pub(crate) fn request_line(&mut self, path: &[Seg], text: &str) -> Option<RequestLine> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [method, service, p] = parts.as_slice() else {
            self.err(path, format!("`{text}` is not `METHOD SERVICE PATH`"), Some("e.g. `POST orders /orders`".into()));
            return None;
        };
        const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !METHODS.contains(&method.to_ascii_uppercase().as_str()) {
            self.err(
                path,
                format!("`{method}` is not an HTTP method"),
                Some(format!("methods: {}", METHODS.join(", "))),
            );
            return None;
        }
        if !p.starts_with('/') {
            self.err(path, format!("the path `{p}` must start with `/`"), None);
            return None;
        }
        let service = self.service(path, service)?;
        if self.config.services[&service].ports.is_empty() {
            self.err(path, format!("`{service}` has no ports to send a request to"), None);
            return None;
        }
        Some(RequestLine { method: method.to_ascii_uppercase(), service, path: (*p).to_owned() })
    }

    /// A kind's keys of `c` (`names`), read whole into its `K`. Their values were checked
    /// as the file was read, so a problem here is only a key the kind cannot do without.
    pub(crate) fn keys<K: DeserializeOwned>(&mut self, c: &Check, names: &[&str], path: &[Seg]) -> Option<K> {
        match written::read(c.keys.only(names)) {
            Ok(k) => Some(k),
            Err(e) => {
                self.err(path, e.to_string(), None);
                None
            }
        }
    }

    /// Whether `service` looks like a `word` service: named so in its image or build, or
    /// listening on `port`.
    pub(crate) fn looks_like(&self, service: &str, word: &str, port: u16) -> bool {
        let s = &self.config.services[service];
        let named = [&s.image, &s.build].iter().any(|x| x.as_deref().is_some_and(|x| x.contains(word)));
        named || s.ports.contains(&port)
    }
}

/// An edge speaks HTTP when its url is http(s):// or its target answers HTTP readiness.
pub(crate) fn is_http_edge(config: &Config, from: &str, to: &str) -> bool {
    let url_http = config.services.get(from).and_then(|s| s.depends_on.get(to)).is_some_and(|e| e.is_http());
    url_http || config.services.get(to).and_then(|s| s.ready.as_ref()).is_some_and(|r| r.http.is_some())
}
