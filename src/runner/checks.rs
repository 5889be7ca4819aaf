//! The checks, one function each: expected against observed, with the numbers.

use std::time::{Duration, Instant};

use super::workload;
use crate::outcome::CheckOutcome;
use crate::scenario::validate::{CheckKind, SqlExpect};
use crate::stack::Stack;

/// Runs one check. `session` is the scenario's: a `recovers` request carries its cookies
/// and captured values, as the user the steps played would.
pub async fn run(
    stack: &Stack,
    index: usize,
    line: usize,
    check: &CheckKind,
    session: &workload::Session,
) -> CheckOutcome {
    let counted = match check {
        CheckKind::MaxAttempts { from, to, max } => Some(max_attempts(stack, from, to, *max)),
        CheckKind::MaxRequests { from, to, max } => Some(max_requests(stack, from, to, *max)),
        _ => None,
    };
    if let Some((check, passed, expected, observed, unobserved)) = counted {
        return CheckOutcome { index, line, check, passed, expected, observed, unobserved };
    }
    let (check, passed, expected, observed) = match check {
        CheckKind::MaxAttempts { .. } | CheckKind::MaxRequests { .. } => unreachable!("judged above"),
        CheckKind::Sql { service, query, database, expect } => {
            sql(stack, service, query, database.as_deref(), expect).await
        }
        CheckKind::Redis { service, command, expect } => redis(stack, service, command, expect).await,
        CheckKind::Logs { service, forbid, require } => logs(stack, service, forbid, require).await,
        CheckKind::Recovers { line, within, status, body, headers } => {
            recovers(stack, (line, headers, body.as_ref()), *within, status.as_deref(), session).await
        }
    };
    CheckOutcome { index, line, check, passed, expected, observed, unobserved: false }
}

type Judged = (String, bool, String, String);

/// Judged, and whether there was nothing to judge.
fn max_attempts(stack: &Stack, from: &str, to: &str, max: u32) -> (String, bool, String, String, bool) {
    let what = format!("at most {max} attempts per request on {from} -> {to}");
    let Some(edge) = stack.edge(from, to) else {
        return (what, false, format!("≤ {max}"), format!("no edge {from} -> {to} in the stack"), false);
    };
    let obs = edge.observations();
    let with_id = obs.requests.iter().filter(|r| r.request_id.is_some()).count();
    match obs.max_attempts() {
        Some((id, n)) => (
            what,
            n <= max,
            format!("≤ {max}"),
            format!(
                "{n} attempt{} of request {id} ({} request{}, {with_id} with a request id)",
                if n == 1 { "" } else { "s" },
                obs.requests.len(),
                if obs.requests.len() == 1 { "" } else { "s" }
            ),
            false,
        ),
        // Nothing crossed: the bound was never put to the test. Neither a pass nor a failure.
        None if obs.requests.is_empty() => (
            what,
            false,
            format!("≤ {max}"),
            format!("no request crossed {from} -> {to}, so the bound was never tested"),
            true,
        ),
        // Requests crossed but none can be grouped: the check cannot be judged; fail closed.
        None => (
            what,
            false,
            format!("≤ {max}"),
            format!("{} requests, none with an Idempotency-Key or X-Request-Id to group them", obs.requests.len()),
            false,
        ),
    }
}

/// Judged, and whether there was nothing to judge: no request at all crossed the edge, so
/// the bound was never put to the test (a client that stopped calling would pass it).
fn max_requests(stack: &Stack, from: &str, to: &str, max: u32) -> (String, bool, String, String, bool) {
    let what = format!("at most {max} request{} on {from} -> {to}", if max == 1 { "" } else { "s" });
    let Some(edge) = stack.edge(from, to) else {
        return (what, false, format!("≤ {max}"), format!("no edge {from} -> {to} in the stack"), false);
    };
    let obs = edge.observations();
    let n = obs.requests.len();
    if n == 0 {
        return (
            what,
            false,
            format!("≤ {max}"),
            format!("no request crossed {from} -> {to}, so the bound was never tested"),
            true,
        );
    }
    let faulted = obs.requests.iter().filter(|r| r.fault.is_some()).count();
    let observed = format!("{n} request{} ({faulted} met a fault)", if n == 1 { "" } else { "s" });
    (what, n as u64 <= u64::from(max), format!("≤ {max}"), observed, false)
}

/// psql inside the container, as the role and database its environment names
/// (`POSTGRES_USER`/`POSTGRES_DB`, as the fixture image and the common images take them).
/// `$0` is the query, `$1` the database (empty: the container's default).
const PSQL: &str = "exec psql -v ON_ERROR_STOP=1 -X -tA -U \"${POSTGRES_USER:-${PGUSER:-postgres}}\" -d \"${1:-${POSTGRES_DB:-${PGDATABASE:-postgres}}}\" -c \"$0\"";

async fn sql(stack: &Stack, service: &str, query: &str, database: Option<&str>, expect: &SqlExpect) -> Judged {
    let what = match database {
        Some(db) => format!("sql on {service}/{db}: {query}"),
        None => format!("sql on {service}: {query}"),
    };
    let cmd = ["sh", "-c", PSQL, query, database.unwrap_or("")];
    let (code, out) = match stack.exec(service, &cmd).await {
        Ok(r) => r,
        Err(e) => return (what, false, describe(expect), format!("cannot run psql: {e}")),
    };
    if code != 0 {
        return (what, false, describe(expect), format!("psql failed (exit {code}): {}", out.trim()));
    }
    let rows: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    match expect {
        SqlExpect::Rows(n) => {
            let shown = rows.iter().take(5).copied().collect::<Vec<_>>().join("; ");
            (
                what,
                rows.len() as u64 == *n,
                describe(expect),
                format!(
                    "{} row{}{}",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    if shown.is_empty() { String::new() } else { format!(": {shown}") }
                ),
            )
        }
        SqlExpect::Value(v) => {
            let got = rows.first().map(|r| r.trim()).unwrap_or("");
            (what, got == v.trim(), describe(expect), format!("`{got}`"))
        }
    }
}

fn describe(e: &SqlExpect) -> String {
    match e {
        SqlExpect::Rows(n) => format!("{n} row{}", if *n == 1 { "" } else { "s" }),
        SqlExpect::Value(v) => format!("`{v}`"),
    }
}

async fn redis(stack: &Stack, service: &str, command: &[String], expect: &str) -> Judged {
    let what = format!("redis on {service}: {}", command.join(" "));
    let mut cmd = vec!["redis-cli"];
    cmd.extend(command.iter().map(String::as_str));
    match stack.exec(service, &cmd).await {
        Ok((0, out)) => {
            let got = out.trim().to_owned();
            (what, got == expect.trim(), format!("`{expect}`"), format!("`{got}`"))
        }
        Ok((code, out)) => {
            (what, false, format!("`{expect}`"), format!("redis-cli failed (exit {code}): {}", out.trim()))
        }
        Err(e) => (what, false, format!("`{expect}`"), format!("cannot run redis-cli: {e}")),
    }
}

async fn logs(stack: &Stack, service: &str, forbid: &[regex::Regex], require: &[regex::Regex]) -> Judged {
    let mut what = format!("logs of {service}");
    let text = match stack.full_logs(service).await {
        Ok(t) => t,
        Err(e) => return (what, false, "readable logs".into(), e.to_string()),
    };
    let mut expected = Vec::new();
    if !forbid.is_empty() {
        expected.push(format!(
            "no line matching {}",
            forbid.iter().map(|r| format!("/{r}/")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !require.is_empty() {
        expected.push(format!(
            "a line matching {}",
            require.iter().map(|r| format!("/{r}/")).collect::<Vec<_>>().join(" and ")
        ));
    }
    what.push_str(&format!(": {}", expected.join("; ")));
    for r in forbid {
        if let Some(line) = text.lines().find(|l| r.is_match(l)) {
            return (what, false, expected.join("; "), format!("found: {}", line.trim()));
        }
    }
    for r in require {
        if !text.lines().any(|l| r.is_match(l)) {
            return (
                what,
                false,
                expected.join("; "),
                format!("no line matches /{r}/ ({} lines)", text.lines().count()),
            );
        }
    }
    (what, true, expected.join("; "), format!("{} lines, as expected", text.lines().count()))
}

/// A request: its line, headers and body.
type Call<'a> =
    (&'a crate::scenario::validate::RequestLine, &'a [(String, String)], Option<&'a crate::scenario::validate::Body>);

async fn recovers(
    stack: &Stack,
    (line, headers, body): Call<'_>,
    within: Duration,
    status: Option<&[u16]>,
    session: &workload::Session,
) -> Judged {
    let what = format!("{line} recovers within {}", humantime::format_duration(within));
    let ok = |s: u16| status.map_or((200..300).contains(&s), |l| l.contains(&s));
    let expected = match status {
        Some(l) => format!("status in {l:?} within {}", humantime::format_duration(within)),
        None => format!("a 2xx within {}", humantime::format_duration(within)),
    };
    let addr = match stack.addr(&line.service) {
        Ok(a) => a,
        Err(e) => return (what, false, expected, e.to_string()),
    };
    let start = Instant::now();
    let mut last = String::from("no attempt");
    let mut tries = 0;
    while start.elapsed() < within {
        tries += 1;
        let left = within.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
        let req = workload::instance(line, headers, body, tries, session);
        let (a, _) = workload::send(addr, line, req, left, Some(session), false).await;
        match a.status {
            Some(s) if ok(s) => {
                return (
                    what,
                    true,
                    expected,
                    format!("{s} after {:.1} s ({tries} tries)", start.elapsed().as_secs_f64()),
                );
            }
            Some(s) => last = format!("status {s}"),
            None => last = a.error.unwrap_or_else(|| "no answer".into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (what, false, expected, format!("not recovered after {tries} tries; last: {last}"))
}
