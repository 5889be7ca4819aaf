//! `sql: { service, query, database }` with `expect_rows: N` or `expect: VALUE`: a query on
//! a PostgreSQL service, through `psql` in its container.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckKind, Judgement, Probe, plural};
use crate::config::Seg;
use crate::fault::spec::Text;
use crate::scenario::model::Check;
use crate::scenario::validate::Validator;
use crate::ypath;

pub(super) const NAME: &str = "sql";
pub(super) const KEYS: &[&str] = &[NAME, "expect_rows", "expect"];
pub(super) const ON: bool = false;
pub(super) const SETTLES: bool = true;
/// It only reads (see `recovers::ACTS`).
pub(super) const ACTS: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// A query on a PostgreSQL service.
    sql: SqlCheck,
    /// The number of rows the query must return.
    #[serde(default)]
    expect_rows: Option<u64>,
    /// With `sql`: the value the query must return; with `redis`: the reply.
    #[serde(default)]
    expect: Option<Text>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    pub service: String,
    pub query: String,
    /// The database the query runs in. Default: the container's `POSTGRES_DB`, else
    /// `PGDATABASE`, else `postgres`; name it when the service keeps its tables elsewhere.
    #[serde(default)]
    pub database: Option<String>,
}

/// What the query must return.
#[derive(Debug, Clone)]
pub enum SqlExpect {
    Rows(u64),
    Value(String),
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let Keys { sql, expect_rows, expect } = v.keys(c, KEYS, path)?;
    let at_service = [path, &ypath!["sql", "service"]].concat();
    let service = v.service(&at_service, &sql.service)?;
    if !v.looks_like(&service, "postgres", 5432) {
        v.err(
            &at_service,
            format!("`{service}` is not a PostgreSQL service (no `postgres` in its image or build, no port 5432)"),
            None,
        );
        return None;
    }
    let expect = match (expect_rows, expect) {
        (Some(n), None) => SqlExpect::Rows(n),
        (None, Some(v)) => SqlExpect::Value(v.0),
        _ => {
            v.err(path, "a sql check needs exactly one of `expect_rows` or `expect`", None);
            return None;
        }
    };
    if let Some(db) = sql.database.as_deref().filter(|d| d.is_empty() || d.len() > 63 || d.contains('\0')) {
        v.err(&[path, &ypath!["sql", "database"]].concat(), format!("`{db}` cannot name a PostgreSQL database"), None);
        return None;
    }
    Some(CheckKind::Sql { service, query: sql.query, database: sql.database, expect })
}

pub(super) fn explain(service: &str, query: &str, _database: &Option<String>, expect: &SqlExpect) -> String {
    match expect {
        SqlExpect::Rows(n) => format!("on {service}: `{query}` returns {n} rows"),
        SqlExpect::Value(v) => format!("on {service}: `{query}` returns `{v}`"),
    }
}

/// psql inside the container, as the role and database its environment names
/// (`POSTGRES_USER`/`POSTGRES_DB`, as the fixture image and the common images take them).
/// `$0` is the query, `$1` the database (empty: the container's default).
pub(crate) const PSQL: &str = "exec psql -v ON_ERROR_STOP=1 -X -tA -U \"${POSTGRES_USER:-${PGUSER:-postgres}}\" -d \"${1:-${POSTGRES_DB:-${PGDATABASE:-postgres}}}\" -c \"$0\"";

pub(super) async fn judge<P: Probe>(
    probe: &P,
    service: &str,
    query: &str,
    database: &Option<String>,
    expect: &SqlExpect,
) -> Judgement {
    let what = match database {
        Some(db) => format!("sql on {service}/{db}: {query}"),
        None => format!("sql on {service}: {query}"),
    };
    let cmd = ["sh", "-c", PSQL, query, database.as_deref().unwrap_or("")];
    let (code, out) = match probe.exec(service, &cmd).await {
        Ok(r) => r,
        Err(e) => return Judgement::failed(what, describe(expect), format!("cannot run psql: {e}")),
    };
    if code != 0 {
        return Judgement::failed(what, describe(expect), format!("psql failed (exit {code}): {}", out.trim()));
    }
    let rows: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    match expect {
        SqlExpect::Rows(n) => {
            let shown = rows.iter().take(5).copied().collect::<Vec<_>>().join("; ");
            let observed = format!(
                "{}{}",
                plural(rows.len() as u64, "row"),
                if shown.is_empty() { String::new() } else { format!(": {shown}") }
            );
            Judgement::judged(what, rows.len() as u64 == *n, describe(expect), observed)
        }
        SqlExpect::Value(v) => {
            let got = rows.first().map(|r| r.trim()).unwrap_or("");
            Judgement::judged(what, got == v.trim(), describe(expect), format!("`{got}`"))
        }
    }
}

fn describe(e: &SqlExpect) -> String {
    match e {
        SqlExpect::Rows(n) => plural(*n, "row"),
        SqlExpect::Value(v) => format!("`{v}`"),
    }
}
