//! The `http` fault kind, on HTTP/1.1 edges: its parameters as written ([`HttpSpec`]) and
//! their checks, into a rule of which requests ([`RequestMatch`], [`When`]) and what happens
//! to them ([`HttpAction`]). The connection handling is in `conn`, the framing in `codec`.

pub(crate) mod codec;
pub(crate) mod conn;

use std::time::Duration;

use globset::GlobMatcher;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec::{Dur, EdgeFault, Effect, Text};

/// `http: { status: 503, first: 2 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpFault {
    /// An HTTP-level fault (HTTP edges only).
    pub http: HttpSpec,
}

impl EdgeFault for HttpFault {
    const NAME: &'static str = "http";
    const KEYS: &'static [&'static str] = &["http"];

    type Error = HttpSpecError;

    fn effect(&self) -> Result<Effect, HttpSpecError> {
        self.http.validate().map(Effect::Http)
    }
}

/// An `http` fault that cannot be: its action, its headers, which requests it selects.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpSpecError {
    #[error("an http fault needs exactly one of `status`, `delay`, `drop`")]
    Actions,
    #[error("{0} is not an HTTP status (100-599)")]
    NotAStatus(u16),
    #[error("{0} is an interim status; answer with a final one (200-599)")]
    Interim(u16),
    #[error("`body`, `body_bytes` and `headers` go with `status`")]
    BodyWithoutStatus,
    #[error("`body_bytes: {0}` is more than a response body of {max} bytes", max = MAX_BODY_BYTES)]
    BodyTooLarge(usize),
    #[error("`body_bytes` repeats `body`: give the text to repeat")]
    NothingToRepeat,
    #[error("`{name}: {value}` is not a valid HTTP header")]
    Header { name: String, value: String },
    #[error("`first: 0` selects nothing")]
    FirstZero,
    #[error("`every: 0` is not a period; use 1 for every request")]
    EveryZero,
    #[error("percent must be between 0 and 100, found {0}")]
    Percent(f64),
    #[error("choose one of `first`, `every`, `percent`")]
    Selectors,
    #[error("path `{0}` must start with `/` (it is matched against the request path)")]
    RelativePath(String),
    #[error("path `{path}` is not a valid glob: {}", .error.kind())]
    Glob { path: String, error: globset::Error },
}

/// An HTTP fault: which requests (`method`, `path`, and `first`/`every`/`percent`) and what
/// happens to them (`status`, `delay`, or `drop`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Only requests with this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path (without the query) matches this glob: `/charges`, `/orders/*`, `/api/**`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only the first N matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// Only every Nth matching request (the Nth, 2Nth, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Only this percentage of matching requests, drawn from the edge's seeded generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Answer with this status instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// With `status`: the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Text>,
    /// With `status` and `body`: the body repeated until it is this many bytes (cut at the
    /// last whole character within them), for a large error page: `body_bytes: 262144`.
    /// At most 16 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<usize>,
    /// With `status`: extra response headers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, Text>,
    /// Hold the request this long, then forward it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// Forward the request, then drop the connection in the middle of the response: the
    /// dependency did the work and the reply is lost. `reset` (default) or `close`; `before`:
    /// reset the connection instead of forwarding, so the dependency never sees the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropStyle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DropStyle {
    Reset,
    Close,
    /// Reset before forwarding: no work was done.
    Before,
}

impl HttpSpec {
    fn validate(&self) -> Result<HttpRule, HttpSpecError> {
        let actions = [self.status.is_some(), self.delay.is_some(), self.drop.is_some()].iter().filter(|b| **b).count();
        let action = match (self.status, self.delay, self.drop) {
            _ if actions != 1 => return Err(HttpSpecError::Actions),
            (Some(s), _, _) if !(100..=599).contains(&s) => return Err(HttpSpecError::NotAStatus(s)),
            (Some(s), _, _) if s < 200 => return Err(HttpSpecError::Interim(s)),
            (Some(status), _, _) => HttpAction::Respond {
                status,
                body: self.response_body()?,
                headers: self.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            },
            (_, Some(d), _) => HttpAction::Delay(d.0),
            (_, _, Some(DropStyle::Before)) => HttpAction::Reset,
            (_, _, Some(style)) => HttpAction::Drop { reset: style == DropStyle::Reset },
            _ => unreachable!("one action is set"),
        };
        if (self.body.is_some() || self.body_bytes.is_some() || !self.headers.is_empty()) && self.status.is_none() {
            return Err(HttpSpecError::BodyWithoutStatus);
        }
        for (k, Text(v)) in &self.headers {
            if k.is_empty()
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                || v.contains(['\r', '\n'])
            {
                return Err(HttpSpecError::Header { name: k.clone(), value: v.clone() });
            }
        }
        let when = match (self.first, self.every, self.percent) {
            (None, None, None) => When::Always,
            (Some(0), ..) => return Err(HttpSpecError::FirstZero),
            (_, Some(0), _) => return Err(HttpSpecError::EveryZero),
            (Some(n), None, None) => When::First(n),
            (None, Some(n), None) => When::Every(n),
            (None, None, Some(p)) if (0.0..=100.0).contains(&p) => When::Percent(p),
            (None, None, Some(p)) => return Err(HttpSpecError::Percent(p)),
            _ => return Err(HttpSpecError::Selectors),
        };
        let matcher = RequestMatch::new(self.method.as_deref(), self.path.as_deref())?;
        Ok(HttpRule { matcher, when, action })
    }
}

/// The most bytes `body_bytes` asks for: 16 MiB, far past any error page.
pub const MAX_BODY_BYTES: usize = 16 << 20;

impl HttpSpec {
    /// `body`, repeated to `body_bytes` when it says.
    fn response_body(&self) -> Result<String, HttpSpecError> {
        let body = self.body.clone().map(|t| t.0).unwrap_or_default();
        let Some(n) = self.body_bytes else { return Ok(body) };
        if n > MAX_BODY_BYTES {
            return Err(HttpSpecError::BodyTooLarge(n));
        }
        if body.is_empty() {
            return Err(HttpSpecError::NothingToRepeat);
        }
        let mut out = body.repeat(n.div_ceil(body.len()));
        let mut end = n;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        Ok(out)
    }
}

/// Which requests a rule looks at.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    method: Option<String>,
    path: Option<(String, GlobMatcher)>,
}

impl PartialEq for RequestMatch {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.path.as_ref().map(|p| &p.0) == other.path.as_ref().map(|p| &p.0)
    }
}

impl RequestMatch {
    pub(crate) fn new(method: Option<&str>, path: Option<&str>) -> Result<Self, HttpSpecError> {
        let path = match path {
            None => None,
            Some(p) if !p.starts_with('/') && p != "*" => return Err(HttpSpecError::RelativePath(p.to_owned())),
            Some(p) => {
                let glob = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|error| HttpSpecError::Glob { path: p.to_owned(), error })?;
                Some((p.to_owned(), glob.compile_matcher()))
            }
        };
        Ok(RequestMatch { method: method.map(|m| m.to_ascii_uppercase()), path })
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_ref().is_none_or(|(_, g)| g.is_match(path))
    }
}

/// Which of the matching requests the rule fires on. Counting is per rule, across all the
/// edge's connections, in the order requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    Always,
    First(u64),
    Every(u64),
    /// A percentage drawn from the edge's seeded generator.
    Percent(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpAction {
    /// Answer with this status (and body, headers) instead of forwarding.
    Respond { status: u16, body: String, headers: Vec<(String, String)> },
    /// Hold the request, then forward it.
    Delay(Duration),
    /// Forward the request, then drop the connection in the middle of the response.
    Drop { reset: bool },
    /// Reset the connection instead of forwarding the request.
    Reset,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRule {
    pub matcher: RequestMatch,
    pub when: When,
    pub action: HttpAction,
}

impl HttpRule {
    /// Whether the rule fires on the `n`th (1-based) request it matched.
    pub(crate) fn fires(&self, n: u64, rng: &mut dyn rand::RngCore) -> bool {
        match self.when {
            When::Always => true,
            When::First(k) => n <= k,
            When::Every(k) => n.is_multiple_of(k),
            When::Percent(p) => rand::Rng::random_bool(rng, (p / 100.0).clamp(0.0, 1.0)),
        }
    }
}

/// The reason phrase of a status, for synthesised responses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Fault",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn matching_ignores_query_and_method_case() {
        let m = RequestMatch::new(Some("post"), Some("/charges")).unwrap();
        assert!(m.matches("POST", "/charges?retry=1"));
        assert!(!m.matches("GET", "/charges"));
        assert!(!m.matches("POST", "/charges/1"));
        let m = RequestMatch::new(None, Some("/orders/*")).unwrap();
        assert!(m.matches("GET", "/orders/42"));
        assert!(!m.matches("GET", "/orders/42/items"));
        assert!(RequestMatch::new(None, Some("/api/**")).unwrap().matches("GET", "/api/a/b"));
    }

    #[test]
    fn a_body_is_repeated_to_its_size_on_whole_characters() {
        let spec = |body: &str, n| HttpSpec {
            status: Some(503),
            body: Some(Text(body.into())),
            body_bytes: Some(n),
            ..Default::default()
        };
        assert_eq!(spec("abc", 7).response_body().unwrap(), "abcabca");
        assert_eq!(spec("é", 5).response_body().unwrap(), "éé", "é is 2 bytes: 4 of the 5");
        assert_eq!(spec("<p>x</p>", 262_144).response_body().unwrap().len(), 262_144);
        assert!(matches!(spec("x", MAX_BODY_BYTES + 1).validate(), Err(HttpSpecError::BodyTooLarge(_))));
        assert!(matches!(spec("", 10).validate(), Err(HttpSpecError::NothingToRepeat)));
        let alone = HttpSpec { delay: Some(Dur(Duration::from_secs(1))), body_bytes: Some(1), ..Default::default() };
        assert!(matches!(alone.validate(), Err(HttpSpecError::BodyWithoutStatus)));
    }

    #[test]
    fn when_counts() {
        let rule = |when| HttpRule {
            matcher: RequestMatch::new(None, None).unwrap(),
            when,
            action: HttpAction::Delay(Duration::ZERO),
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let first: Vec<bool> = (1..=4).map(|n| rule(When::First(2)).fires(n, &mut rng)).collect();
        assert_eq!(first, [true, true, false, false]);
        let every: Vec<bool> = (1..=6).map(|n| rule(When::Every(3)).fires(n, &mut rng)).collect();
        assert_eq!(every, [false, false, true, false, false, true]);
        let fired = (1..=10_000).filter(|n| rule(When::Percent(30.0)).fires(*n, &mut rng)).count();
        assert!((2_700..3_300).contains(&fired), "{fired}");
    }
}
