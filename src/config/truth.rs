//! `agrees:` on a request step: which field of the answer must equal which query of a
//! datastore (the source of truth), within a staleness bound. Read here, key by key, so that a
//! workload in faultline.yaml and a step of a scenario file are checked by one code and every
//! mistake is located at its key with the nearest valid name; the runner
//! (`runner::agree`) samples the truth and judges the answers.
//!
//! ```yaml
//! - request: GET api /stock/A1
//!   agrees: { path: $.qty, sql: { service: postgres, query: "select qty from stock where sku = 'A1'" }, within: 5s }
//! - request: GET api /count
//!   agrees: { path: $.count, redis: { service: redis, command: [GET, count] } }
//! ```

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diagnostic::nearest;
use super::source::Seg;

/// The staleness bound when `within` is not written.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5);

/// The longest staleness bound accepted.
pub const MAX_WITHIN: Duration = Duration::from_secs(600);

/// `agrees:` as written (for the JSON Schema; it is read by [`parse`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreesSpec {
    /// Where the value is in the answer's JSON body: `$.qty`, `$.items[0].id`, `$` (the
    /// whole body).
    pub path: String,
    /// A query on a PostgreSQL service whose first column of its first row is the truth.
    #[serde(default)]
    pub sql: Option<SqlTruth>,
    /// A command on a Redis service whose reply is the truth.
    #[serde(default)]
    pub redis: Option<RedisTruth>,
    /// How stale an answer may be once the faults have ended: the step's request is sent
    /// again until it agrees or this has passed. Default 5 s.
    #[serde(default)]
    pub within: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlTruth {
    pub service: String,
    pub query: String,
    /// Default: the container's `POSTGRES_DB`, else `PGDATABASE`, else `postgres`.
    #[serde(default)]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisTruth {
    pub service: String,
    /// The command and its arguments: `[GET, stock:A1]`.
    pub command: Vec<String>,
}

/// A validated `agrees:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub path: JsonPath,
    pub truth: Truth,
    pub within: Duration,
}

/// Where the truth is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    Sql { service: String, query: String, database: Option<String> },
    Redis { service: String, command: Vec<String> },
}

impl Truth {
    pub fn service(&self) -> &str {
        match self {
            Truth::Sql { service, .. } | Truth::Redis { service, .. } => service,
        }
    }

    /// The names of `names` the truth's text holds as `{NAME}` (values a step captures).
    pub fn names<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        let texts: Vec<&str> = match self {
            Truth::Sql { query, .. } => vec![query],
            Truth::Redis { command, .. } => command.iter().map(String::as_str).collect(),
        };
        names.iter().map(String::as_str).filter(|n| texts.iter().any(|t| t.contains(&format!("{{{n}}}")))).collect()
    }

    /// The truth with each `{NAME}` of `names` filled with `value(NAME)`: in a query as an SQL
    /// string literal (quotes doubled, so a value the service answered cannot change the
    /// query), in a command as the argument's text (each argument is one, whatever it
    /// holds). `None` while one of them has no value.
    pub fn filled(&self, names: &[String], value: impl Fn(&str) -> Option<String>) -> Option<Truth> {
        let mut values = Vec::new();
        for n in self.names(names) {
            values.push((format!("{{{n}}}"), value(n)?));
        }
        let fill = |text: &str, quote: bool| {
            values.iter().fold(text.to_owned(), |t, (k, v)| {
                t.replace(k, &if quote { format!("'{}'", v.replace('\'', "''")) } else { v.clone() })
            })
        };
        Some(match self {
            Truth::Sql { service, query, database } => {
                Truth::Sql { service: service.clone(), query: fill(query, true), database: database.clone() }
            }
            Truth::Redis { service, command } => {
                Truth::Redis { service: service.clone(), command: command.iter().map(|a| fill(a, false)).collect() }
            }
        })
    }
}

impl std::fmt::Display for Truth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Truth::Sql { service, query, .. } => write!(f, "sql on {service}: {query}"),
            Truth::Redis { service, command } => write!(f, "redis on {service}: {}", command.join(" ")),
        }
    }
}

/// A JSON path of keys and indexes: `$.a.b[0]`, `$['a key']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub text: String,
    segs: Vec<PathSeg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathSeg {
    Key(String),
    Index(usize),
}

impl JsonPath {
    /// `$`, then `.key`, `['key']` or `[N]`, as often as needed.
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let bad = |why: &'static str| Err(PathError { text: text.to_owned(), why });
        let Some(mut rest) = text.strip_prefix('$') else { return bad("it starts with `$`") };
        let mut segs = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() || key == "*" {
                    return bad("a `.` is followed by a key");
                }
                segs.push(PathSeg::Key(key.to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let Some(end) = r.find(']') else { return bad("a `[` is not closed") };
                let inner = r[..end].trim();
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match (quoted, inner.parse::<usize>()) {
                    (Some(k), _) => segs.push(PathSeg::Key(k.to_owned())),
                    (None, Ok(i)) => segs.push(PathSeg::Index(i)),
                    _ => return bad("`[…]` holds an index (`[0]`) or a quoted key (`['a b']`)"),
                }
                rest = &r[end + 1..];
            } else {
                return bad("after `$`, `.key`, `[N]` or `['key']`");
            }
        }
        Ok(JsonPath { text: text.to_owned(), segs })
    }

    /// The value at this path in `body`, as text ([`as_text`]); `None` when the body is not
    /// JSON or has nothing there.
    pub fn get(&self, body: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let mut at = &v;
        for s in &self.segs {
            at = match s {
                PathSeg::Key(k) => at.get(k.as_str())?,
                PathSeg::Index(i) => at.get(*i)?,
            };
        }
        Some(as_text(at))
    }
}

/// A JSON path that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a JSON path: {why}")]
pub struct PathError {
    pub text: String,
    pub why: &'static str,
}

/// A JSON value as a datastore prints it: a string without quotes, `null` as nothing (what
/// `psql -tA` prints for NULL and `redis-cli` for a missing key), anything else as JSON.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether an answer's value and the truth's are the same: the same text once trimmed, or
/// the same number (`5` and `5.0`).
pub fn same(answer: &str, truth: &str) -> bool {
    let (a, t) = (answer.trim(), truth.trim());
    if a == t {
        return true;
    }
    match (a.parse::<f64>(), t.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.is_finite() && x == y,
        _ => false,
    }
}

/// A mistake in an `agrees:`: where (relative to the `agrees` key), what, and what would fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreesProblem {
    pub at: Vec<Seg>,
    pub message: String,
    pub help: Option<String>,
    /// An unknown key: located at the key, not its value.
    pub unknown_key: bool,
}

const KEYS: &[&str] = &["path", "sql", "redis", "within"];
const SQL_KEYS: &[&str] = &["service", "query", "database"];
const REDIS_KEYS: &[&str] = &["service", "command"];

/// Reads an `agrees:` value key by key: every unknown key with the nearest valid one, every
/// value of the wrong type at its key.
pub fn parse(v: &Value) -> Result<Agreement, Vec<AgreesProblem>> {
    let mut problems = Vec::new();
    let mut problem = |at: Vec<Seg>, message: String, help: Option<String>| {
        let unknown_key = message.starts_with("unknown key");
        problems.push(AgreesProblem { at, message, help, unknown_key });
    };
    let Some(map) = v.as_object() else {
        problem(
            Vec::new(),
            "`agrees` is a mapping: `path`, one of `sql` or `redis`, and `within`".into(),
            Some(
                r#"e.g. `agrees: { path: $.qty, sql: { service: postgres, query: "select qty from stock" } }`"#.into(),
            ),
        );
        return Err(problems);
    };
    unknown(map, KEYS, &[], &mut problem);
    let path = match map.get("path") {
        Some(Value::String(p)) => match JsonPath::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                problem(
                    vec![Seg::from("path")],
                    e.to_string(),
                    Some("e.g. `$.qty`, `$.items[0].id`, `$['a key']`".into()),
                );
                None
            }
        },
        Some(_) => {
            problem(vec![Seg::from("path")], "`path` is a JSON path, a string such as `$.qty`".into(), None);
            None
        }
        None => {
            problem(
                Vec::new(),
                "`agrees` needs `path`: where the value is in the answer".into(),
                Some("e.g. `path: $.qty`".into()),
            );
            None
        }
    };
    let within = match map.get("within") {
        None => Some(DEFAULT_WITHIN),
        Some(Value::String(w)) => match humantime::parse_duration(w.trim()) {
            Ok(d) if d <= MAX_WITHIN => Some(d),
            Ok(_) => {
                problem(vec![Seg::from("within")], format!("`{w}` is longer than 10 minutes"), None);
                None
            }
            Err(e) => {
                problem(
                    vec![Seg::from("within")],
                    format!("`{w}` is not a duration: {e}"),
                    Some("e.g. `5s`, `500ms`".into()),
                );
                None
            }
        },
        Some(other) => {
            problem(vec![Seg::from("within")], format!("`within` is a duration such as `5s`, found {other}"), None);
            None
        }
    };
    let truth = match (map.get("sql"), map.get("redis")) {
        (Some(s), None) => sql(s, &mut problem),
        (None, Some(r)) => redis(r, &mut problem),
        (sql, _) => {
            let n = if sql.is_some() { "both" } else { "neither" };
            problem(
                Vec::new(),
                format!("`agrees` needs exactly one source of truth, `sql` or `redis` ({n} given)"),
                Some(r#"e.g. `sql: { service: postgres, query: "select qty from stock where sku = 'A1'" }`"#.into()),
            );
            None
        }
    };
    match (path, truth, within) {
        (Some(path), Some(truth), Some(within)) if problems.is_empty() => Ok(Agreement { path, truth, within }),
        _ => Err(problems),
    }
}

type Problem<'a> = dyn FnMut(Vec<Seg>, String, Option<String>) + 'a;

/// Unknown keys of `map` under `at`, each with the nearest of `keys`.
fn unknown(map: &serde_json::Map<String, Value>, keys: &[&str], at: &[Seg], problem: &mut Problem<'_>) {
    for k in map.keys().filter(|k| !keys.contains(&k.as_str())) {
        let help = match nearest(k, keys.iter().copied()) {
            Some(n) => format!("did you mean `{n}`? valid: {}", keys.join(", ")),
            None => format!("valid: {}", keys.join(", ")),
        };
        problem([at, &[Seg::from(k.as_str())]].concat(), format!("unknown key `{k}`"), Some(help));
    }
}

/// A string at `key` of `map` (under `at`), or a problem.
fn text(map: &serde_json::Map<String, Value>, key: &str, at: &str, problem: &mut Problem<'_>) -> Option<String> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => {
            problem(vec![Seg::from(at), Seg::from(key)], format!("`{at}.{key}` is a non-empty string"), None);
            None
        }
        None => {
            problem(vec![Seg::from(at)], format!("`{at}` needs `{key}`"), None);
            None
        }
    }
}

fn sql(v: &Value, problem: &mut Problem<'_>) -> Option<Truth> {
    let Some(map) = v.as_object() else {
        problem(vec![Seg::from("sql")], "`sql` is a mapping: `service`, `query` and `database`".into(), None);
        return None;
    };
    unknown(map, SQL_KEYS, &[Seg::from("sql")], problem);
    let service = text(map, "service", "sql", problem);
    let query = text(map, "query", "sql", problem);
    let database = match map.get("database") {
        None => None,
        Some(Value::String(d)) if !d.is_empty() && d.len() <= 63 && !d.contains('\0') => Some(d.clone()),
        Some(other) => {
            problem(
                vec![Seg::from("sql"), Seg::from("database")],
                format!("{other} cannot name a PostgreSQL database"),
                None,
            );
            return None;
        }
    };
    Some(Truth::Sql { service: service?, query: query?, database })
}

fn redis(v: &Value, problem: &mut Problem<'_>) -> Option<Truth> {
    let Some(map) = v.as_object() else {
        problem(vec![Seg::from("redis")], "`redis` is a mapping: `service` and `command`".into(), None);
        return None;
    };
    unknown(map, REDIS_KEYS, &[Seg::from("redis")], problem);
    let service = text(map, "service", "redis", problem);
    let command = match map.get("command") {
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(|x| !x.is_object() && !x.is_array() && !x.is_null()) => {
            Some(a.iter().map(as_text).collect())
        }
        Some(_) => {
            problem(
                vec![Seg::from("redis"), Seg::from("command")],
                "`redis.command` is the command and its arguments, a non-empty list: `[GET, count]`".into(),
                None,
            );
            None
        }
        None => {
            problem(vec![Seg::from("redis")], "`redis` needs `command`, e.g. `[GET, count]`".into(), None);
            None
        }
    };
    Some(Truth::Redis { service: service?, command: command? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn captured_values_fill_a_query_as_literals_and_a_command_as_arguments() {
        let names = ["id".to_owned(), "other".to_owned()];
        let sql = Truth::Sql {
            service: "db".into(),
            query: "SELECT s FROM t WHERE id = {id} AND j = '{}'".into(),
            database: None,
        };
        assert_eq!(sql.names(&names), ["id"]);
        let got = sql.filled(&names, |_| Some("7' OR '1'='1".into()));
        let Some(Truth::Sql { query, .. }) = got else { panic!("{got:?}") };
        assert_eq!(query, "SELECT s FROM t WHERE id = '7'' OR ''1''=''1' AND j = '{}'");
        assert_eq!(sql.filled(&names, |_| None), None, "not captured yet");
        let redis = Truth::Redis { service: "r".into(), command: vec!["GET".into(), "sub:{id}".into()] };
        let got = redis.filled(&names, |n| (n == "id").then(|| "a b".to_owned()));
        assert_eq!(got, Some(Truth::Redis { service: "r".into(), command: vec!["GET".into(), "sub:a b".into()] }));
        let plain = Truth::Redis { service: "r".into(), command: vec!["GET".into(), "n".into()] };
        assert_eq!(plain.filled(&names, |_| None), Some(plain.clone()), "names nothing: as written");
    }

    #[test]
    fn paths_read_keys_indexes_and_quoted_keys() {
        let body = br#"{"qty": 5, "items": [{"id": "a1"}], "a key": null, "ok": true}"#;
        let get = |p: &str| JsonPath::parse(p).unwrap().get(body);
        assert_eq!(get("$.qty").as_deref(), Some("5"));
        assert_eq!(get("$.items[0].id").as_deref(), Some("a1"));
        assert_eq!(get("$['a key']").as_deref(), Some(""));
        assert_eq!(get("$.ok").as_deref(), Some("true"));
        assert_eq!(get("$.missing"), None);
        assert_eq!(get("$.items[3]"), None);
        assert!(JsonPath::parse("$").unwrap().get(b"7").is_some_and(|v| v == "7"));
        assert_eq!(JsonPath::parse("$.qty").unwrap().get(b"not json"), None);
        for bad in ["qty", "$.", "$[x]", "$[0", "$..a", "$.*", "$x"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_the_same_as_text_or_as_numbers() {
        assert!(same("5", " 5 "));
        assert!(same("5", "5.0"));
        assert!(!same("5", "6"));
        assert!(!same("", "0"), "a missing value is not zero");
        assert!(same("", ""));
        assert!(!same("a", "b"));
    }

    #[test]
    fn every_mistake_is_at_its_key_with_the_nearest_name() {
        let ok = parse(&json!({ "path": "$.qty", "sql": { "service": "db", "query": "select 1" }, "within": "2s" }))
            .unwrap();
        assert_eq!(ok.within, Duration::from_secs(2));
        assert_eq!(ok.truth.to_string(), "sql on db: select 1");
        let r = parse(&json!({ "path": "$.n", "redis": { "service": "r", "command": ["GET", "n", 1] } })).unwrap();
        assert_eq!(r.truth, Truth::Redis { service: "r".into(), command: vec!["GET".into(), "n".into(), "1".into()] });
        assert_eq!(r.within, DEFAULT_WITHIN);
        let e = parse(&json!({ "pth": "$.qty", "sql": { "servce": "db", "query": "q" } })).unwrap_err();
        let at: Vec<String> = e.iter().map(|p| format!("{:?}: {} ({:?})", p.at, p.message, p.help)).collect();
        assert!(
            e.iter().any(|p| p.at == vec![Seg::from("pth")] && p.help.as_deref().is_some_and(|h| h.contains("`path`"))),
            "{at:?}"
        );
        assert!(
            e.iter().any(|p| p.at == vec![Seg::from("sql"), Seg::from("servce")]
                && p.help.as_deref().is_some_and(|h| h.contains("`service`"))),
            "{at:?}"
        );
        let e = parse(&json!({ "path": "$.q", "sql": { "service": "a", "query": "q" }, "redis": { "service": "r", "command": ["GET"] } })).unwrap_err();
        assert!(e[0].message.contains("exactly one source of truth") && e[0].message.contains("both"), "{e:?}");
        let e = parse(&json!({ "path": "q", "redis": { "service": "r", "command": [] }, "within": "5 parsecs" }))
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(parse(&json!("$.qty")).is_err());
        assert!(
            parse(&json!({ "path": "$.q", "redis": { "service": "r", "command": ["GET"] }, "within": "1h" })).is_err()
        );
    }
}
