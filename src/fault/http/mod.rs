//! HTTP-level faults on HTTP/1.1 edges: which requests ([`RequestMatch`], [`When`]) and
//! what happens to them ([`HttpAction`]). The connection handling is in `conn`, the framing
//! in `codec`.

pub(crate) mod codec;
pub(crate) mod conn;

use std::time::Duration;

use globset::GlobMatcher;

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
    pub fn new(method: Option<&str>, path: Option<&str>) -> Result<Self, String> {
        let path = match path {
            None => None,
            Some(p) if !p.starts_with('/') && p != "*" => {
                return Err(format!("path `{p}` must start with `/` (it is matched against the request path)"));
            }
            Some(p) => {
                let glob = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("path `{p}` is not a valid glob: {}", e.kind()))?;
                Some((p.to_owned(), glob.compile_matcher()))
            }
        };
        Ok(RequestMatch { method: method.map(|m| m.to_ascii_uppercase()), path })
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
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
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
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
