//! Checks a scenario against the configuration and builds what the runner executes. Every
//! problem is located (file, line, column) and lists the valid names.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;

use super::model::{Check, ContainerFault, FaultEntry, NumOrText, ScenarioFile, Step};
use super::template::{self, Locator};
use crate::config::ServiceGraph;
use crate::config::diagnostic::nearest;
use crate::config::{Config, ConfigError, FileDiagnostic, Seg, SourceFile};
use crate::fault::Fault;
use crate::ypath;

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

#[derive(Debug, Clone)]
pub enum FaultTarget {
    Edge { from: String, to: String, fault: Box<Fault> },
    Container { service: String, fault: ContainerFault },
}

#[derive(Debug, Clone)]
pub struct TimedFault {
    /// `faults[i]` in the file, for messages.
    pub index: usize,
    pub on: String,
    /// What it does, in the `k=v` form of `faultline proxy --fault`: `latency=3s`, `pause`.
    pub what: String,
    pub at: Duration,
    /// `None`: until the steps end.
    pub duration: Option<Duration>,
    pub target: FaultTarget,
}

/// What every request of a step must do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    /// Statuses that count as success; `None`: any below 500.
    pub status: Option<Vec<u16>>,
    /// Every request answers within this long.
    pub within: Option<Duration>,
    /// The share of requests that may fail, 0..=1.
    pub error_rate: f64,
    /// (percentile, bound), e.g. (99, 300 ms).
    pub percentiles: Vec<(u8, Duration)>,
}

/// A request body, as it is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `application/json`.
    Json(serde_json::Value),
    /// As written, `text/plain` unless a header says otherwise.
    Text(String),
    /// `application/x-www-form-urlencoded`, in order.
    Form(Vec<(String, String)>),
}

impl Body {
    /// A `body:` value: strings as text, anything else as JSON.
    pub fn from_value(v: &serde_json::Value) -> Body {
        match v {
            serde_json::Value::String(s) => Body::Text(s.clone()),
            other => Body::Json(other.clone()),
        }
    }
}

/// Where a captured value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    /// A JSON pointer into the answer's body.
    Json(String),
    /// An answer header (name in lower case).
    Header(String),
}

/// A `request` step: `repeat` requests, `concurrency` at a time.
#[derive(Debug, Clone)]
pub struct RequestStep {
    pub line: RequestLine,
    pub body: Option<Body>,
    pub headers: Vec<(String, String)>,
    pub repeat: u32,
    pub concurrency: u32,
    pub expect: Expectation,
    /// `(name, from)`: kept from the last answer for later steps.
    pub capture: Vec<(String, Capture)>,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Request(RequestStep),
    Load {
        line: RequestLine,
        body: Option<Body>,
        headers: Vec<(String, String)>,
        /// Requests per second.
        rate: f64,
        duration: Duration,
        expect: Expectation,
    },
    Nextest {
        filter: String,
        env: Vec<(String, String)>,
    },
    Exec {
        service: Option<String>,
        cmd: Vec<String>,
        expect_exit: i64,
        /// Extra environment of a host command.
        env: Vec<(String, String)>,
    },
    Sleep(Duration),
}

#[derive(Debug, Clone)]
pub enum SqlExpect {
    Rows(u64),
    Value(String),
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    MaxAttempts {
        from: String,
        to: String,
        max: u32,
    },
    /// At most `max` HTTP requests cross `from -> to` over the scenario.
    MaxRequests {
        from: String,
        to: String,
        max: u32,
    },
    Sql {
        service: String,
        query: String,
        /// `None`: the container's default database.
        database: Option<String>,
        expect: SqlExpect,
    },
    Redis {
        service: String,
        command: Vec<String>,
        expect: String,
    },
    Logs {
        service: String,
        forbid: Vec<Regex>,
        require: Vec<Regex>,
    },
    Recovers {
        line: RequestLine,
        within: Duration,
        status: Option<Vec<u16>>,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    },
}

/// Makes a check that counts requests from its edge (`from`, `to`) and bound.
type MakeCounted = fn(String, String, u32) -> CheckKind;

/// The kinds of check, as their keys are written (`drop_checks` names them too).
pub const CHECK_KINDS: [&str; 6] = ["max_attempts_per_request", "max_requests", "sql", "redis", "logs", "recovers"];

/// The kind of a check as written, if it has exactly one.
pub fn kind_of(c: &Check) -> Option<&'static str> {
    let mut kinds = CHECK_KINDS.iter().zip(kinds_set(c)).filter(|(_, s)| *s).map(|(k, _)| *k);
    match (kinds.next(), kinds.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// Which of [`CHECK_KINDS`] a check sets.
fn kinds_set(c: &Check) -> [bool; 6] {
    [
        c.max_attempts_per_request.is_some(),
        c.max_requests.is_some(),
        c.sql.is_some(),
        c.redis.is_some(),
        c.logs.is_some(),
        c.recovers.is_some(),
    ]
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
        fresh: raw.fresh,
    })
}

fn suggest(word: &str, valid: &[&str]) -> String {
    match nearest(word, valid.iter().copied()) {
        Some(n) => format!("did you mean `{n}`? valid: {}", crate::config::diagnostic::listing(valid)),
        None => format!("valid: {}", crate::config::diagnostic::listing(valid)),
    }
}

struct Validator<'a> {
    src: &'a SourceFile,
    locator: &'a Locator<'static>,
    config: &'a Config,
    problems: Vec<FileDiagnostic>,
    stack: Vec<String>,
    levels: Vec<Vec<String>>,
}

impl Validator<'_> {
    fn err(&mut self, path: &[Seg], msg: impl Into<String>, help: Option<String>) {
        let mut d = self.locator.at_value(self.src, path, msg);
        d.help = help;
        self.problems.push(d);
    }

    /// A service of the scenario's stack, or a located problem.
    fn service(&mut self, path: &[Seg], name: &str) -> Option<String> {
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
    fn edge(&mut self, path: &[Seg], text: &str) -> Option<(String, String)> {
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

    fn request_line(&mut self, path: &[Seg], text: &str) -> Option<RequestLine> {
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

    fn fault(&mut self, i: usize, f: &FaultEntry) -> Option<TimedFault> {
        let path = ypath!["faults", i];
        let at = f.at.map(|d| d.0).unwrap_or_default();
        let duration = f.duration.map(|d| d.0);
        if duration == Some(Duration::ZERO) {
            self.err(
                &[&path[..], &ypath!["for"]].concat(),
                "`for: 0s` is no fault; remove it or give it a duration",
                None,
            );
        }
        let on = [&path[..], &ypath!["on"]].concat();
        if f.on.contains("->") {
            if f.container_keys() > 0 {
                self.err(
                    &on,
                    "pause, kill, stop and disconnect act on a service, not an edge",
                    Some("write `on: SERVICE`".into()),
                );
                return None;
            }
            let (from, to) = self.edge(&on, &f.on)?;
            let fault = match f.edge_spec().validate() {
                Ok(fault) => fault,
                Err(reason) => {
                    self.err(&path, reason, None);
                    return None;
                }
            };
            if matches!(fault, Fault::Http(_)) && !is_http_edge(self.config, &from, &to) {
                self.err(
                    &path,
                    format!(
                        "`{from} -> {to}` is not an HTTP edge: its url is not http:// and `{to}` has no `ready.http`"
                    ),
                    None,
                );
                return None;
            }
            return Some(TimedFault {
                index: i,
                on: f.on.clone(),
                what: compact(&serde_json::to_value(f.edge_spec()).unwrap_or_default(), ""),
                at,
                duration,
                target: FaultTarget::Edge { from, to, fault: Box::new(fault) },
            });
        }
        let service = self.service(&on, f.on.trim())?;
        if f.has_edge_keys() {
            self.err(
                &path,
                format!("`{service}` is a service: edge faults (latency, http, …) go on an edge `CLIENT -> {service}`"),
                None,
            );
            return None;
        }
        match (f.container_keys(), f.container_fault()) {
            (1, Some(fault)) => Some(TimedFault {
                index: i,
                on: f.on.clone(),
                what: serde_json::to_value(fault).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                at,
                duration,
                target: FaultTarget::Container { service, fault },
            }),
            (0, _) => {
                self.err(&path, "a fault on a service needs one of `pause`, `kill`, `stop`, `disconnect`", None);
                None
            }
            _ => {
                self.err(&path, "one fault, one kind: write pause, kill, stop and disconnect as separate faults", None);
                None
            }
        }
    }

    fn step(&mut self, i: usize, s: &Step) -> Option<StepKind> {
        let path = ypath!["steps", i];
        let at = |key: &str| [&path[..], &ypath![key]].concat();
        let kinds = [s.request.is_some(), s.load.is_some(), s.exec.is_some(), s.nextest.is_some(), s.sleep.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds != 1 {
            self.err(
                &path,
                format!("a step needs exactly one of `request`, `load`, `exec`, `nextest`, `sleep` ({kinds} given)"),
                None,
            );
            return None;
        }
        for (key, set, kind) in [
            ("repeat", s.repeat.is_some(), "request"),
            ("concurrency", s.concurrency.is_some(), "request"),
            ("rate", s.rate.is_some(), "load"),
            ("for", s.duration.is_some(), "load"),
        ] {
            let owner = if kind == "request" { s.request.is_some() } else { s.load.is_some() };
            if set && !owner {
                self.err(&at(key), format!("`{key}` goes with `{kind}`"), None);
                return None;
            }
        }
        let http_only = !s.headers.is_empty() || s.body.is_some() || s.form.is_some() || s.expect.is_some();
        if http_only && s.request.is_none() && s.load.is_none() {
            self.err(&path, "`body`, `form`, `headers` and `expect` go with `request` or `load`", None);
            return None;
        }
        if !s.capture.is_empty() && s.request.is_none() {
            self.err(&at("capture"), "`capture` goes with `request`", None);
            return None;
        }
        if s.body.is_some() && s.form.is_some() {
            self.err(&at("form"), "a step has one body: `body` or `form`, not both", None);
            return None;
        }
        if let Some(d) = s.sleep {
            return Some(StepKind::Sleep(d.0));
        }
        if let Some(e) = &s.exec {
            if e.cmd.is_empty() {
                self.err(&[&path[..], &ypath!["exec", "cmd"]].concat(), "an empty command", None);
                return None;
            }
            let service = match &e.service {
                Some(name) => Some(self.service(&[&path[..], &ypath!["exec", "service"]].concat(), name)?),
                None => None,
            };
            if service.is_some() && !e.env.is_empty() {
                self.err(
                    &[&path[..], &ypath!["exec", "env"]].concat(),
                    "`env` goes with a host command; a container has the environment of its service",
                    None,
                );
                return None;
            }
            let env = self.step_env(&[&path[..], &ypath!["exec", "env"]].concat(), &e.env)?;
            return Some(StepKind::Exec { service, cmd: e.cmd.clone(), expect_exit: e.expect_exit.unwrap_or(0), env });
        }
        if let Some(n) = &s.nextest {
            if n.filter.trim().is_empty() {
                self.err(
                    &[&path[..], &ypath!["nextest", "filter"]].concat(),
                    "an empty filterset would run every test",
                    Some("e.g. `test(/checkout/)` or `package(orders) and binary(live)`".into()),
                );
                return None;
            }
            let env = self.step_env(&[&path[..], &ypath!["nextest", "env"]].concat(), &n.env)?;
            return Some(StepKind::Nextest { filter: n.filter.clone(), env });
        }
        let (key, text) = match (&s.request, &s.load) {
            (Some(r), _) => ("request", r.as_str()),
            (None, Some(l)) => ("load", l.as_str()),
            (None, None) => unreachable!("one kind is set"),
        };
        let line = self.request_line(&at(key), text)?;
        let expect = self.expectation(&at("expect"), s.expect.clone().unwrap_or_default())?;
        let headers = s.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        let body = match (&s.body, &s.form) {
            (Some(b), _) => Some(Body::from_value(b)),
            (None, Some(f)) => Some(Body::Form(self.form(&at("form"), f)?)),
            (None, None) => None,
        };
        if key == "load" {
            let (Some(rate), Some(duration)) = (&s.rate, s.duration) else {
                self.err(
                    &path,
                    "a `load` step needs `rate` and `for`",
                    Some("e.g. `rate: 50/s` and `for: 10s`".into()),
                );
                return None;
            };
            let rate = match parse_rate(rate) {
                Ok(r) => r,
                Err(e) => {
                    self.err(&at("rate"), e, Some("e.g. `50`, `50/s`, `3000/min`".into()));
                    return None;
                }
            };
            if duration.0.is_zero() {
                self.err(&at("for"), "a load needs a duration", None);
                return None;
            }
            return Some(StepKind::Load { line, body, headers, rate, duration: duration.0, expect });
        }
        let (repeat, concurrency) = (s.repeat.unwrap_or(1), s.concurrency.unwrap_or(1));
        if repeat == 0 || concurrency == 0 {
            self.err(&path, "`repeat` and `concurrency` must be at least 1", None);
            return None;
        }
        let capture = self.captures(&at("capture"), &s.capture)?;
        Some(StepKind::Request(RequestStep { line, body, headers, repeat, concurrency, expect, capture }))
    }

    /// A host command's `env`: names of variables, `{SERVICE.host|port|addr|url}` of
    /// services of the stack.
    fn step_env(
        &mut self,
        path: &[Seg],
        env: &BTreeMap<String, crate::fault::spec::Text>,
    ) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, v) in env {
            let at = [path, &ypath![k.as_str()]].concat();
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.err(&at, format!("`{k}` is not an environment variable name"), None);
                return None;
            }
            let mut rest = v.0.as_str();
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}') else { break };
                let inner = &rest[open + 1..open + close];
                rest = &rest[open + close + 1..];
                let Some((svc, part)) = inner.split_once('.') else { continue };
                if !["host", "port", "addr", "url"].contains(&part) {
                    self.err(
                        &at,
                        format!("`{{{inner}}}`: `{part}` is not a part of an address"),
                        Some("`.host`, `.port`, `.addr` or `.url`".into()),
                    );
                    return None;
                }
                self.service(&at, svc)?;
            }
            out.push((k.clone(), v.0.clone()));
        }
        Some(out)
    }

    /// `form:` fields: scalars, in order.
    fn form(&mut self, path: &[Seg], f: &serde_json::Map<String, serde_json::Value>) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, v) in f {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    self.err(
                        &[path, &ypath![k.as_str()]].concat(),
                        "a form field is a string, a number or a boolean",
                        None,
                    );
                    return None;
                }
            };
            out.push((k.clone(), text));
        }
        Some(out)
    }

    /// `capture:` entries: `NAME: json:/pointer` or `NAME: header:name`.
    fn captures(&mut self, path: &[Seg], c: &BTreeMap<String, String>) -> Option<Vec<(String, Capture)>> {
        let mut out = Vec::new();
        for (name, from) in c {
            let at = [path, &ypath![name.as_str()]].concat();
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name != "n";
            if !valid {
                self.err(
                    &at,
                    format!("`{name}` cannot name a captured value"),
                    Some("letters, digits and `_`, not `n` (the iteration number)".into()),
                );
                return None;
            }
            let capture = match from.split_once(':') {
                Some(("json", p)) if p.is_empty() || p.starts_with('/') => Capture::Json(p.to_owned()),
                Some(("header", h)) if !h.trim().is_empty() => Capture::Header(h.trim().to_ascii_lowercase()),
                _ => {
                    self.err(
                        &at,
                        format!("`{from}` says nowhere to capture from"),
                        Some("`json:/id` (a JSON pointer into the answer) or `header:location`".into()),
                    );
                    return None;
                }
            };
            out.push((name.clone(), capture));
        }
        Some(out)
    }

    fn expectation(&mut self, path: &[Seg], e: super::model::Expect) -> Option<Expectation> {
        let at = |key: &str| [path, &ypath![key]].concat();
        if let Some(bad) = e.status.iter().flatten().find(|s| !(100..=599).contains(*s)) {
            self.err(&at("status"), format!("{bad} is not an HTTP status"), None);
            return None;
        }
        let error_rate = match e.error_rate.as_ref().map(parse_fraction) {
            None => 0.0,
            Some(Ok(f)) if f >= 1.0 => {
                self.err(
                    &at("error_rate"),
                    "an error rate bound of 100% cannot fail: every request may fail and the step still passes",
                    Some("bound what a correct system guarantees, e.g. `error_rate: 5%`".into()),
                );
                return None;
            }
            Some(Ok(f)) => f,
            Some(Err(msg)) => {
                self.err(&at("error_rate"), msg, Some("e.g. `1%` or `0.01`".into()));
                return None;
            }
        };
        let percentiles = [(50, e.p50), (90, e.p90), (95, e.p95), (99, e.p99)]
            .into_iter()
            .filter_map(|(p, d)| Some((p, d?.0)))
            .collect();
        Some(Expectation { status: e.status, within: e.within.map(|d| d.0), error_rate, percentiles })
    }

    /// A check that counts requests on an edge (`max_attempts_per_request`, `max_requests`),
    /// made by `make` from the edge and the bound.
    fn counted(&mut self, path: &[Seg], key: &str, on: Option<&str>, max: u32, make: MakeCounted) -> Option<CheckKind> {
        let Some(on) = on else {
            self.err(path, format!("`{key}` needs `on: CLIENT -> DEPENDENCY`"), None);
            return None;
        };
        let (from, to) = self.edge(&[path, &ypath!["on"]].concat(), on)?;
        if !is_http_edge(self.config, &from, &to) {
            self.err(path, format!("requests are counted on HTTP edges, and `{from} -> {to}` is not one"), None);
            return None;
        }
        Some(make(from, to, max))
    }

    fn check(&mut self, i: usize, c: &Check) -> Option<CheckKind> {
        let path = ypath!["checks", i];
        let kinds = kinds_set(c).iter().filter(|b| **b).count();
        if kinds != 1 {
            self.err(
                &path,
                format!(
                    "a check needs exactly one of {} ({kinds} given)",
                    CHECK_KINDS.map(|k| format!("`{k}`")).join(", ")
                ),
                None,
            );
            return None;
        }
        let counted: [(&str, Option<u32>, MakeCounted); 2] = [
            ("max_attempts_per_request", c.max_attempts_per_request, |from, to, max| CheckKind::MaxAttempts {
                from,
                to,
                max,
            }),
            ("max_requests", c.max_requests, |from, to, max| CheckKind::MaxRequests { from, to, max }),
        ];
        if let Some((key, Some(max), make)) = counted.into_iter().find(|(_, m, _)| m.is_some()) {
            return self.counted(&path, key, c.on.as_deref(), max, make);
        }
        if c.on.is_some() {
            self.err(
                &[&path[..], &ypath!["on"]].concat(),
                "`on` goes with `max_attempts_per_request` or `max_requests`",
                None,
            );
            return None;
        }
        if let Some(sql) = &c.sql {
            let service = self.service(&[&path[..], &ypath!["sql", "service"]].concat(), &sql.service)?;
            if !looks_like(self.config, &service, "postgres", 5432) {
                self.err(
                    &[&path[..], &ypath!["sql", "service"]].concat(),
                    format!(
                        "`{service}` is not a PostgreSQL service (no `postgres` in its image or build, no port 5432)"
                    ),
                    None,
                );
                return None;
            }
            let expect = match (c.expect_rows, &c.expect) {
                (Some(n), None) => SqlExpect::Rows(n),
                (None, Some(v)) => SqlExpect::Value(v.0.clone()),
                _ => {
                    self.err(&path, "a sql check needs exactly one of `expect_rows` or `expect`", None);
                    return None;
                }
            };
            if let Some(db) = sql.database.as_deref().filter(|d| d.is_empty() || d.len() > 63 || d.contains('\0')) {
                self.err(
                    &[&path[..], &ypath!["sql", "database"]].concat(),
                    format!("`{db}` cannot name a PostgreSQL database"),
                    None,
                );
                return None;
            }
            return Some(CheckKind::Sql { service, query: sql.query.clone(), database: sql.database.clone(), expect });
        }
        if let Some(r) = &c.redis {
            let service = self.service(&[&path[..], &ypath!["redis", "service"]].concat(), &r.service)?;
            if !looks_like(self.config, &service, "redis", 6379) {
                self.err(
                    &[&path[..], &ypath!["redis", "service"]].concat(),
                    format!("`{service}` is not a Redis service"),
                    None,
                );
                return None;
            }
            let Some(expect) = &c.expect else {
                self.err(&path, "a redis check needs `expect`: the reply", None);
                return None;
            };
            return Some(CheckKind::Redis {
                service,
                command: r.command.iter().map(|t| t.0.clone()).collect(),
                expect: expect.0.clone(),
            });
        }
        if let Some(l) = &c.logs {
            let service = self.service(&[&path[..], &ypath!["logs", "service"]].concat(), &l.service)?;
            let mut compile = |list: &[String], key: &str| -> Option<Vec<Regex>> {
                list.iter()
                    .enumerate()
                    .map(|(j, r)| {
                        Regex::new(r)
                            .map_err(|e| {
                                self.err(
                                    &[&path[..], &ypath!["logs", key, j]].concat(),
                                    format!("invalid regex: {}", e.to_string().lines().last().unwrap_or_default()),
                                    None,
                                )
                            })
                            .ok()
                    })
                    .collect()
            };
            let forbid = compile(&l.forbid, "forbid")?;
            let require = compile(&l.require, "require")?;
            if forbid.is_empty() && require.is_empty() {
                self.err(&path, "a logs check needs `forbid` or `require` patterns", None);
                return None;
            }
            return Some(CheckKind::Logs { service, forbid, require });
        }
        let r = c.recovers.as_ref().expect("one kind is set");
        let line = self.request_line(&[&path[..], &ypath!["recovers", "request"]].concat(), &r.request)?;
        Some(CheckKind::Recovers {
            line,
            within: r.within.map_or(Duration::from_secs(10), |d| d.0),
            status: r.status.clone(),
            body: r.body.as_ref().map(Body::from_value),
            headers: r.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        })
    }
}

/// `{"latency": "3s", "http": {"status": 503}}` as `latency=3s,http.status=503`.
fn compact(v: &serde_json::Value, prefix: &str) -> String {
    match v {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| compact(x, &format!("{prefix}{k}.")))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        serde_json::Value::String(s) => format!("{}={s}", prefix.trim_end_matches('.')),
        serde_json::Value::Bool(true) => prefix.trim_end_matches('.').to_owned(),
        other => format!("{}={other}", prefix.trim_end_matches('.')),
    }
}

/// Requests per second from `50`, `50/s`, `3000/min`.
fn parse_rate(v: &NumOrText) -> Result<f64, String> {
    let (n, per) = match v {
        NumOrText::Num(n) => (*n, 1.0),
        NumOrText::Text(t) => {
            let (n, unit) = t.split_once('/').unwrap_or((t, "s"));
            let per = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                _ => return Err(format!("`{t}` is not a rate: the unit is /s or /min")),
            };
            (n.trim().parse::<f64>().map_err(|_| format!("`{t}` is not a rate"))?, per)
        }
    };
    let rate = n / per;
    if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
        return Err(format!("a rate between 0 and 100000/s, not {rate}/s"));
    }
    Ok(rate)
}

/// A share from `1%` or `0.01`.
fn parse_fraction(v: &NumOrText) -> Result<f64, String> {
    let f = match v {
        NumOrText::Num(n) if *n > 1.0 => return Err(format!("{n} is more than 1: write a percentage as `{n}%`")),
        NumOrText::Num(n) => *n,
        NumOrText::Text(t) => match t.trim().strip_suffix('%').map(|p| p.trim().parse::<f64>()) {
            Some(Ok(p)) => p / 100.0,
            _ => return Err(format!("`{t}` is not a share: write `1%` or `0.01`")),
        },
    };
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("a share between 0% and 100%, not {}%", f * 100.0));
    }
    Ok(f)
}

/// An edge speaks HTTP when its url is http(s):// or its target answers HTTP readiness.
pub fn is_http_edge(config: &Config, from: &str, to: &str) -> bool {
    let url_http = config.services.get(from).and_then(|s| s.depends_on.get(to)).is_some_and(|e| e.is_http());
    url_http || config.services.get(to).and_then(|s| s.ready.as_ref()).is_some_and(|r| r.http.is_some())
}

fn looks_like(config: &Config, service: &str, word: &str, port: u16) -> bool {
    let s = &config.services[service];
    let named = [&s.image, &s.build].iter().any(|x| x.as_deref().is_some_and(|x| x.contains(word)));
    named || s.ports.contains(&port)
}
