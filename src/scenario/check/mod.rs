//! The kinds of check, one file each, listed once in the table below.
//!
//! A kind's file owns its keys as written (`Keys`, the fields named as the keys), their
//! validation into its [`CheckKind`] variant, the line `scenario explain` prints, and its
//! judgement once the steps ran ([`Judgement`], through a [`Probe`] the runner answers from
//! the stack, so the catalogue depends on no engine). The table row names the variant and
//! its fields, as tests and reports match on them; the macro turns the rows into
//! [`CheckKind`], [`KINDS`] and the dispatch of `explain` and `judge`.
//!
//! Each file has the same items: `NAME` (the key that names the kind, as `drop_checks`
//! writes it), `KEYS` (every key it reads, `NAME` first), `ON` (whether it takes `on:
//! CLIENT -> DEPENDENCY`), `SETTLES` (whether it may be written `settled: true`: judged
//! again until it holds or the system has been quiet for `within`, for state that a correct
//! system reconciles after a fault), `ACTS` (whether it sends requests to the system: the
//! checks that only read run at once, between the ones that act), `Keys`, `validate`, `explain` and `judge` (the last two
//! take the variant's fields in order).

mod logs;
mod max_attempts;
mod max_requests;
mod recovers;
mod redis;
mod sql;

use std::fmt;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

pub(crate) use sql::PSQL;
pub use sql::SqlExpect;

use super::model::Check;
use super::validate::{Body, RequestLine, Validator};
use crate::config::Seg;
use crate::fault::Observations;
use crate::fault::written::{self, Key, KeyTable};

/// What a check found: what it checked, whether it held, expected and observed, in words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Judgement {
    /// The check, in words: `at most 3 attempts per request on orders -> payments`.
    pub check: String,
    pub passed: bool,
    pub expected: String,
    pub observed: String,
    /// Nothing was there to judge (no request crossed the edge): neither a pass nor a
    /// failure, so the scenario could not be verified.
    pub unobserved: bool,
}

impl Judgement {
    /// Judged: held or not.
    pub(crate) fn judged(check: String, passed: bool, expected: String, observed: String) -> Judgement {
        Judgement { check, passed, expected, observed, unobserved: false }
    }

    /// Did not hold.
    pub(crate) fn failed(check: String, expected: String, observed: String) -> Judgement {
        Judgement::judged(check, false, expected, observed)
    }
}

/// A request as a check sends it: its line, headers and body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub line: &'a RequestLine,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a Body>,
}

/// What came back from one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Status(u16),
    /// No answer: why (connection refused, reset, timed out).
    Failed(String),
}

/// What a check can ask of the running system; the runner answers from the stack.
pub(crate) trait Probe {
    type Error: fmt::Display;

    /// What has crossed the edge `from -> to`, if the stack has that edge.
    fn edge(&self, from: &str, to: &str) -> Option<Observations>;

    /// A command in a service's container: its exit code and output.
    fn exec(&self, service: &str, cmd: &[&str]) -> impl Future<Output = Result<(i64, String), Self::Error>>;

    /// Every log line of a service so far.
    fn logs(&self, service: &str) -> impl Future<Output = Result<String, Self::Error>>;

    /// Sends the `n`th try of a request as the scenario's user (its cookies, captured
    /// values); an error when it cannot be sent at all.
    fn send(&self, call: Call<'_>, n: u32, timeout: Duration) -> impl Future<Output = Result<Reply, Self::Error>>;
}

/// A row of [`KINDS`]: how a kind's keys are read and validated.
pub(crate) struct CheckRow {
    /// The key that names the kind.
    pub name: &'static str,
    /// Every key it reads, `name` first.
    pub keys: &'static [&'static str],
    /// Whether it takes `on: CLIENT -> DEPENDENCY`.
    pub on: bool,
    /// Whether it may be written `settled: true`.
    pub settles: bool,
    check: written::CheckFn,
    pub validate: fn(&mut Validator<'_>, &Check, &[Seg]) -> Option<CheckKind>,
    schema: fn(&mut schemars::SchemaGenerator) -> serde_json::Map<String, serde_json::Value>,
}

/// The table of check kinds: `Variant { its fields } in its_file`, in the order they are
/// listed to people.
macro_rules! check_kinds {
    ($($(#[$doc:meta])* $variant:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? } in $kind:ident,)*) => {
        /// A validated check, ready to run.
        #[derive(Debug, Clone)]
        pub enum CheckKind {
            $($(#[$doc])* $variant { $($(#[$fdoc])* $field: $ty),* },)*
        }

        /// Every kind of check.
        pub(crate) static KINDS: &[CheckRow] = &[$(CheckRow {
            name: $kind::NAME,
            keys: $kind::KEYS,
            on: $kind::ON,
            settles: $kind::SETTLES,
            check: written::check_as::<$kind::Keys>,
            validate: $kind::validate,
            schema: written::schema_properties::<$kind::Keys>,
        },)*];

        impl CheckKind {
            /// What it checks, in words, for `scenario explain`.
            pub(crate) fn explain(&self) -> String {
                match self {
                    $(CheckKind::$variant { $($field),* } => $kind::explain($($field),*),)*
                }
            }

            /// Whether it acts on the system (sends requests) rather than only reading it:
            /// the checks between two that act run at once, and one that acts runs alone.
            pub(crate) fn acts(&self) -> bool {
                match self {
                    $(CheckKind::$variant { .. } => $kind::ACTS,)*
                }
            }

            /// Runs it against what the probe sees.
            pub(crate) async fn judge<P: Probe>(&self, probe: &P) -> Judgement {
                match self {
                    $(CheckKind::$variant { $($field),* } => $kind::judge(probe, $($field),*).await,)*
                }
            }
        }
    };
}

check_kinds! {
    /// No request crosses `from -> to` more often than `max` (retries grouped by request id).
    MaxAttempts { from: String, to: String, max: u32 } in max_attempts,
    /// At most `max` HTTP requests cross `from -> to` over the scenario.
    MaxRequests { from: String, to: String, max: u32 } in max_requests,
    /// A query on a PostgreSQL service returns so many rows, or a value.
    Sql {
        service: String,
        query: String,
        /// `None`: the container's default database.
        database: Option<String>,
        expect: SqlExpect,
    } in sql,
    /// A command on a Redis service replies `expect`.
    Redis { service: String, command: Vec<String>, expect: String } in redis,
    /// No log line matches `forbid`; some line matches each of `require`.
    Logs { service: String, forbid: Vec<Regex>, require: Vec<Regex> } in logs,
    /// After the faults end, a request succeeds within a deadline.
    Recovers {
        line: RequestLine,
        within: Duration,
        status: Option<Vec<u16>>,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    } in recovers,
}

/// The kinds of check, as their keys are written (`drop_checks` names them too).
pub static CHECK_KINDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| KINDS.iter().map(|k| k.name).collect());

/// The kind of a check as written, if it has exactly one.
pub fn kind_of(c: &Check) -> Option<&'static str> {
    match kinds_set(c).as_slice() {
        [one] => Some(one.name),
        _ => None,
    }
}

/// The kinds whose naming key a check sets.
pub(crate) fn kinds_set(c: &Check) -> Vec<&'static CheckRow> {
    KINDS.iter().filter(|k| c.keys.has(k.name)).collect()
}

/// Every key of the kinds of check, each with the check of its value (a key two kinds read,
/// `expect`, is checked as the first reads it).
pub(crate) fn keys() -> &'static [Key] {
    &TABLE.keys
}

/// The names of [`keys`].
pub(crate) fn key_names() -> &'static [&'static str] {
    &TABLE.names
}

static TABLE: LazyLock<KeyTable> = LazyLock::new(|| KeyTable::new(KINDS.iter().map(|k| (k.keys, k.check))));

/// The JSON Schema properties of every key of the kinds of check.
pub(crate) fn schema_properties(
    generator: &mut schemars::SchemaGenerator,
) -> serde_json::Map<String, serde_json::Value> {
    let mut props = serde_json::Map::new();
    for kind in KINDS {
        for (k, v) in (kind.schema)(generator) {
            props.entry(k).or_insert(v);
        }
    }
    props
}

/// `1 row`, `2 rows`.
fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_kind_once_with_its_keys() {
        assert_eq!(*CHECK_KINDS, ["max_attempts_per_request", "max_requests", "sql", "redis", "logs", "recovers"]);
        assert_eq!(
            key_names(),
            ["max_attempts_per_request", "max_requests", "sql", "expect_rows", "expect", "redis", "logs", "recovers"]
        );
        assert!(KINDS.iter().all(|k| k.keys.first() == Some(&k.name)));
    }
}
