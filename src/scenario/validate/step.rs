//! The steps of a scenario: the workload, in order.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{RequestLine, Validator};
use crate::config::Seg;
use crate::config::truth::{self, Agreement, Truth};
use crate::scenario::model::{NumOrText, Step};
use crate::ypath;

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
    pub(crate) fn from_value(v: &serde_json::Value) -> Body {
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
    /// `agrees:`: the field of the answers that must equal the source of truth.
    pub agrees: Option<Agreement>,
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

impl Validator<'_> {
    pub(super) fn step(&mut self, i: usize, s: &Step) -> Option<StepKind> {
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
            ("capture", !s.capture.is_empty(), "request"),
            ("agrees", s.agrees.is_some(), "request"),
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
                    self.err(&at("rate"), e.to_string(), Some("e.g. `50`, `50/s`, `3000/min`".into()));
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
        let agrees = match s.agrees.as_ref().map(|a| self.agrees(&at("agrees"), &line, a)) {
            Some(None) => return None,
            checked => checked.flatten(),
        };
        Some(StepKind::Request(RequestStep { line, body, headers, repeat, concurrency, expect, capture, agrees }))
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
    pub(crate) fn form(
        &mut self,
        path: &[Seg],
        f: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Vec<(String, String)>> {
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

    /// `agrees:` of a request (`line`): its keys ([`truth::parse`]), on a `GET` (it is sent
    /// again after the faults), its truth a PostgreSQL or Redis service of the stack.
    fn agrees(&mut self, path: &[Seg], line: &super::RequestLine, v: &serde_json::Value) -> Option<Agreement> {
        let a = match truth::parse(v) {
            Ok(a) => a,
            Err(problems) => {
                for p in problems {
                    self.err(&[path, &p.at].concat(), p.message, p.help);
                }
                return None;
            }
        };
        if line.method != "GET" {
            self.err(
                path,
                format!("`agrees` goes with a `GET` request, not `{}`: it is sent again after the faults", line.method),
                Some("declare it on the read that returns the value, e.g. `request: GET api /stock/A1`".into()),
            );
            return None;
        }
        let (key, word, port) = match &a.truth {
            Truth::Sql { .. } => ("sql", "postgres", 5432),
            Truth::Redis { .. } => ("redis", "redis", 6379),
        };
        let at_service = [path, &ypath![key, "service"]].concat();
        let service = self.service(&at_service, a.truth.service())?;
        if !self.looks_like(&service, word, port) {
            let what = if key == "sql" { "a PostgreSQL" } else { "a Redis" };
            self.err(
                &at_service,
                format!("`{service}` is not {what} service (no `{word}` in its image or build, no port {port})"),
                None,
            );
            return None;
        }
        Some(a)
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

    fn expectation(&mut self, path: &[Seg], e: crate::scenario::model::Expect) -> Option<Expectation> {
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
            Some(Err(e)) => {
                self.err(&at("error_rate"), e.to_string(), Some("e.g. `1%` or `0.01`".into()));
                return None;
            }
        };
        let percentiles = [(50, e.p50), (90, e.p90), (95, e.p95), (99, e.p99)]
            .into_iter()
            .filter_map(|(p, d)| Some((p, d?.0)))
            .collect();
        Some(Expectation { status: e.status, within: e.within.map(|d| d.0), error_rate, percentiles })
    }
}

/// A rate or a share that does not read; said, located, at its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum AmountError {
    #[error("`{0}` is not a rate: the unit is /s or /min")]
    RateUnit(String),
    #[error("`{0}` is not a rate")]
    NotARate(String),
    /// Requests per second out of bounds.
    #[error("a rate between 0 and 100000/s, not {0}/s")]
    Rate(f64),
    #[error("{0} is more than 1: write a percentage as `{0}%`")]
    OverOne(f64),
    #[error("`{0}` is not a share: write `1%` or `0.01`")]
    NotAShare(String),
    /// A fraction out of bounds.
    #[error("a share between 0% and 100%, not {}%", .0 * 100.0)]
    Share(f64),
}

/// Requests per second from `50`, `50/s`, `3000/min`.
fn parse_rate(v: &NumOrText) -> Result<f64, AmountError> {
    let (n, per) = match v {
        NumOrText::Num(n) => (*n, 1.0),
        NumOrText::Text(t) => {
            let (n, unit) = t.split_once('/').unwrap_or((t, "s"));
            let per = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                _ => return Err(AmountError::RateUnit(t.clone())),
            };
            (n.trim().parse::<f64>().map_err(|_| AmountError::NotARate(t.clone()))?, per)
        }
    };
    let rate = n / per;
    if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
        return Err(AmountError::Rate(rate));
    }
    Ok(rate)
}

/// A share from `1%` or `0.01`.
fn parse_fraction(v: &NumOrText) -> Result<f64, AmountError> {
    let f = match v {
        NumOrText::Num(n) if *n > 1.0 => return Err(AmountError::OverOne(*n)),
        NumOrText::Num(n) => *n,
        NumOrText::Text(t) => match t.trim().strip_suffix('%').map(|p| p.trim().parse::<f64>()) {
            Some(Ok(p)) => p / 100.0,
            _ => return Err(AmountError::NotAShare(t.clone())),
        },
    };
    if !(0.0..=1.0).contains(&f) {
        return Err(AmountError::Share(f));
    }
    Ok(f)
}
