//! The steps of a scenario: requests (one at a time or several at once, judged against
//! their expectation and graded for the base comparison), load, sleeps, commands in a
//! service or on the host, and the repository's own tests (`nextest`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::Mutex;

use super::workload::{self, Answer};
use super::{RunError, nextest};
use crate::outcome::{Answered, StepOutcome};
use crate::scenario::validate::{Expectation, RequestStep, StepKind};
use crate::stack::{RunOptions, Stack};

/// How long a request may take when its step sets no `within`.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What steps need besides the stack.
pub(super) struct StepCtx<'a> {
    pub(super) opts: &'a RunOptions,
    /// Where `nextest` steps write their JUnit reports.
    pub(super) scratch: &'a std::path::Path,
    /// The configuration: where code of the change runs (`isolation`), what it receives of
    /// the runner's environment.
    pub(super) config: &'a crate::config::Config,
    /// Cookies and captured values, shared by the scenario's requests.
    pub(super) session: Arc<workload::Session>,
    /// What the truth held and what `agrees:` steps answered.
    pub(super) truth: Arc<super::agree::Record>,
}

impl StepCtx<'_> {
    /// How code of the change runs for this scenario's steps.
    fn code(&self, what: &str) -> Result<crate::stack::sandbox::ChangeCode<'_>, RunError> {
        let o = self.opts;
        crate::stack::sandbox::ChangeCode::new(self.config, what, &o.root, &o.prepare_env, &o.build_cache)
            .map_err(RunError::from)
    }
}

/// The environment a step's command gets on top of what the operator passes:
/// `FAULTLINE_<SERVICE>_ADDR`/`_URL` of every service, and the step's own `env` with its
/// `{SERVICE.port}`-style placeholders filled.
async fn step_env(stack: &Mutex<Stack>, env: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let stack = stack.lock().await;
    let addrs: Vec<(String, std::net::SocketAddr)> =
        stack.services().filter_map(|s| Some((s.to_owned(), stack.addr(s).ok()?))).collect();
    all.extend(nextest::stack_env(&addrs));
    all.extend(env.iter().map(|(k, v)| (k.clone(), nextest::fill_addrs(v, &addrs))));
    all
}

/// A `request` step: `repeat` requests, `concurrency` at a time, judged; then the values it
/// captures from the last answer.
async fn request_step(
    stack: &Mutex<Stack>,
    ctx: &StepCtx<'_>,
    index: usize,
    step: &RequestStep,
) -> Result<StepOutcome, RunError> {
    let RequestStep { line, body, headers, repeat, concurrency, expect, capture, agrees } = step;
    let addr = stack.lock().await.addr(&line.service)?;
    let timeout = request_timeout(expect);
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let keep = !capture.is_empty() || agrees.is_some();
    let name = format!("{line}{}", if *repeat > 1 { format!(" ×{repeat}") } else { String::new() });
    let missing = ctx.session.missing(workload::texts(line, headers, body.as_ref()).iter().map(String::as_str));
    if !missing.is_empty() {
        return Ok(not_sent(index, name, expect, *repeat, &missing));
    }
    if let Some(a) = agrees {
        ctx.truth.sample(&*stack.lock().await, &ctx.session, &a.truth).await;
    }
    let workers = (0..*concurrency).map(|_| {
        let next = next.clone();
        async move {
            let mut answers = Vec::new();
            let mut reads = Vec::new();
            let mut replies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= *repeat {
                    return (answers, reads, replies);
                }
                let req = workload::instance(line, headers, body.as_ref(), n, &ctx.session);
                let (a, reply) = workload::send(addr, line, req, timeout, Some(&ctx.session), keep).await;
                // A 2xx answer's value at the path of `agrees:`.
                if let (Some(agreement), Some(s), Some(r)) = (agrees, a.status, &reply)
                    && (200..300).contains(&s)
                {
                    let path = &agreement.path;
                    let missing = || super::agree::NoValue::NotThere { status: s, path: path.text.clone() };
                    reads.push(path.get(&r.body).ok_or_else(missing));
                }
                if let (Some(s), Some(r)) = (a.status, reply) {
                    replies.push((n, s, r));
                }
                answers.push(a);
            }
        }
    });
    let mut answers: Vec<Answer> = Vec::new();
    let mut reads = Vec::new();
    let mut replies = Vec::new();
    for (a, r, l) in join_all(workers).await {
        answers.extend(a);
        reads.extend(r);
        replies.extend(l);
    }
    if let Some(a) = agrees {
        ctx.truth.reads(index, reads, ctx.session.truth(&a.truth));
        ctx.truth.sample(&*stack.lock().await, &ctx.session, &a.truth).await;
    }
    let mut out = judge(index, name, expect, &answers);
    let missing = captured(&ctx.session, capture, replies);
    if !missing.is_empty() {
        out.passed = false;
        out.observed = format!("{}; nothing to capture as {}", out.observed, missing.join(", "));
    }
    Ok(out)
}

/// Keeps each value of `capture` from the latest answer (by request number) that carries
/// it. Returns the names no answer carried although one was a success or a redirect (below
/// 400): such an answer should have. When every answer was an error or none came, whether
/// its expectation allows that was judged already; the value stays as it was, and a
/// later step that needs one never captured is not sent ([`not_sent`]).
fn captured(
    session: &workload::Session,
    capture: &[(String, crate::scenario::validate::Capture)],
    mut replies: Vec<(u32, u16, workload::Reply)>,
) -> Vec<String> {
    replies.sort_by_key(|(n, _, _)| std::cmp::Reverse(*n));
    let mut missing = Vec::new();
    for (var, from) in capture {
        match replies.iter().find_map(|(_, _, r)| r.capture(from)) {
            Some(v) => session.set_var(var, v),
            None if replies.iter().any(|(_, s, _)| *s < 400) => missing.push(var.clone()),
            None => {}
        }
    }
    missing
}

/// A request step that needs a value (`{NAME}`) no earlier answer carried: not sent, none of
/// its requests answered (so a comparison with a base that sent them sees it), and not a
/// failure of its own (the step that got no such answer was judged by its expectation).
fn not_sent(index: usize, step: String, e: &Expectation, repeat: u32, missing: &[String]) -> StepOutcome {
    let names: Vec<String> = missing.iter().map(|n| format!("`{{{n}}}`")).collect();
    StepOutcome {
        index,
        step,
        passed: true,
        expected: e.status.as_ref().map_or_else(|| "status below 500".to_owned(), |l| format!("status in {l:?}")),
        observed: format!("not sent: {} never captured (no answer of an earlier step carried it)", names.join(", ")),
        start_ms: 0.0,
        end_ms: 0.0,
        answered: Answered { none: repeat as usize, ..Answered::default() },
    }
}

pub(super) async fn run_step(
    stack: &Mutex<Stack>,
    ctx: &StepCtx<'_>,
    index: usize,
    step: &StepKind,
) -> Result<StepOutcome, RunError> {
    match step {
        StepKind::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(StepOutcome {
                index,
                step: format!("sleep {d:?}"),
                passed: true,
                expected: "-".into(),
                observed: "-".into(),
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
        StepKind::Exec { service, cmd, expect_exit, env } => {
            let (code, output) = match service {
                Some(s) => stack.lock().await.exec(s, &cmd.iter().map(String::as_str).collect::<Vec<_>>()).await?,
                None => {
                    let code = ctx.code("a host `exec` step")?;
                    let env = step_env(stack, env).await;
                    workload::host_exec(&code, cmd, &env).await
                }
            };
            let tail = crate::stack::image::tail(output.trim(), 5);
            Ok(StepOutcome {
                index,
                step: format!(
                    "exec {}{}",
                    service.as_deref().map(|s| format!("in {s}: ")).unwrap_or_default(),
                    cmd.join(" ")
                ),
                passed: code == *expect_exit,
                expected: format!("exit code {expect_exit}"),
                observed: format!(
                    "exit code {code}{}",
                    if tail.is_empty() { String::new() } else { format!(": {tail}") }
                ),
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
        StepKind::Request(r) => request_step(stack, ctx, index, r).await,
        StepKind::Load { line, body, headers, rate, duration, expect } => {
            let addr = stack.lock().await.addr(&line.service)?;
            let run = workload::load(
                addr,
                line,
                headers,
                body.as_ref(),
                *rate,
                *duration,
                request_timeout(expect),
                &ctx.session,
            )
            .await;
            let name = format!("load {line} at {rate}/s for {}", humantime::format_duration(*duration));
            let mut out = judge(index, name, expect, &run.answers);
            out.observed = format!("{} sent at {:.1}/s; {}", run.answers.len(), run.achieved_rate, out.observed);
            Ok(out)
        }
        StepKind::Nextest { filter, env } => {
            let all_env = step_env(stack, env).await;
            let code = ctx.code("a `nextest` step")?;
            if !ctx.opts.prepared {
                nextest::build(&code, filter).await?;
            }
            let junit = ctx.scratch.join(format!("step-{index}")).join("junit.xml");
            let cases = nextest::run(&code, filter, &all_env, &junit).await?;
            let failed: Vec<String> =
                cases.iter().filter_map(|c| Some(format!("{}: {}", c.name, c.failure.as_deref()?))).collect();
            let passed = cases.len() - failed.len();
            let mut observed = format!("{passed} passed, {} failed", failed.len());
            for f in failed.iter().take(5) {
                observed.push_str(&format!("; {f}"));
            }
            if failed.len() > 5 {
                observed.push_str(&format!("; and {} more", failed.len() - 5));
            }
            // What the first failed tests said, past the panic's first line: the assertion's
            // left and right, the test's own output.
            for c in cases.iter().filter(|c| c.failure.is_some() && !c.output.is_empty()).take(3) {
                observed.push_str(&format!("\n\n--- {} ---\n{}", c.name, c.output));
            }
            Ok(StepOutcome {
                index,
                step: format!("nextest -E '{filter}'"),
                passed: failed.is_empty(),
                expected: format!("every test of `{filter}` passes ({} tests)", cases.len()),
                observed,
                start_ms: 0.0,
                end_ms: 0.0,
                answered: Default::default(),
            })
        }
    }
}

/// How long one request may take before it counts as unanswered.
pub(super) fn request_timeout(e: &Expectation) -> Duration {
    let bound = e.percentiles.iter().map(|(_, d)| *d).chain(e.within).max();
    bound.map_or(DEFAULT_REQUEST_TIMEOUT, |w| (w * 2).max(Duration::from_secs(1)))
}

/// Expected vs observed for a step of HTTP requests.
fn judge(index: usize, step: String, e: &Expectation, answers: &[Answer]) -> StepOutcome {
    let ok_status = |s: u16| e.status.as_ref().map_or(s < 500, |list| list.contains(&s));
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        *by_status.entry(a.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    let slowest = latencies.last().copied().unwrap_or_default();
    let failed = answers.iter().filter(|a| !a.status.is_some_and(ok_status)).count();
    let rate = if answers.is_empty() { 0.0 } else { failed as f64 / answers.len() as f64 };
    let too_slow = e.within.map_or(0, |w| answers.iter().filter(|a| a.latency > w).count());
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    let mut expected = match &e.status {
        Some(list) => format!("status in {list:?}"),
        None => "status below 500".to_owned(),
    };
    if e.error_rate > 0.0 {
        expected.push_str(&format!(" for at least {}% of requests", fmt_pct(1.0 - e.error_rate)));
    }
    if let Some(w) = e.within {
        expected.push_str(&format!(", each within {}", humantime::format_duration(w)));
    }
    let mut passed = !answers.is_empty() && rate <= e.error_rate && too_slow == 0;
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n}× {s}")).collect();
    let mut observed = format!("{} (slowest {})", statuses.join(", "), ms(slowest));
    if e.error_rate > 0.0 {
        observed.push_str(&format!(", {}% failed", fmt_pct(rate)));
    }
    for (p, bound) in &e.percentiles {
        let got = crate::fault::observe::nearest_rank(&latencies, f64::from(*p)).unwrap_or_default();
        expected.push_str(&format!(", p{p} ≤ {}", humantime::format_duration(*bound)));
        observed.push_str(&format!(", p{p} {}", ms(got)));
        passed &= got <= *bound;
    }
    if let Some(err) = answers.iter().find_map(|a| a.error.as_ref()) {
        observed.push_str(&format!("; first error: {err}"));
    }
    let answered = graded(e, answers);
    StepOutcome { index, step, passed, expected, observed, start_ms: 0.0, end_ms: 0.0, answered }
}

/// The step's answers by grade (see [`Answered`]).
fn graded(e: &Expectation, answers: &[Answer]) -> Answered {
    let mut g = Answered::default();
    for a in answers {
        match a.status {
            None => g.none += 1,
            Some(_) if e.within.is_some_and(|w| a.latency > w) => g.late += 1,
            Some(s) if s >= 500 => g.failed += 1,
            Some(s) if s >= 400 => g.rejected += 1,
            Some(_) => g.ok += 1,
        }
    }
    g
}

fn fmt_pct(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 { format!("{p:.0}") } else { format!("{p:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::validate::Capture;

    fn reply(body: &str) -> workload::Reply {
        workload::Reply { headers: Vec::new(), body: bytes::Bytes::from(body.to_owned()) }
    }

    #[test]
    fn a_value_is_captured_from_the_latest_answer_that_carries_it() {
        let session = workload::Session::new(vec!["id".into()]);
        let capture = [("id".to_owned(), Capture::Json("/id".into()))];
        let replies = vec![(1, 503, reply(r#"{"error":"x"}"#)), (0, 201, reply(r#"{"id":7}"#))];
        assert!(captured(&session, &capture, replies).is_empty());
        assert_eq!(session.fill("/s/{id}", 0), "/s/7");
        // Only errors: nothing to capture, not a failure of the step; the value stays.
        assert!(captured(&session, &capture, vec![(0, 503, reply("{}"))]).is_empty());
        assert_eq!(session.fill("/s/{id}", 0), "/s/7");
        // A success without it: the capture is wrong.
        assert_eq!(captured(&session, &capture, vec![(0, 200, reply("{}"))]), ["id"]);
    }

    #[test]
    fn a_step_needing_a_value_never_captured_is_not_sent_and_counts_unanswered() {
        let session = workload::Session::new(vec!["id".into()]);
        assert_eq!(session.missing(["/s/{id}"]), ["id"]);
        assert!(session.missing(["/s/{other}", "/s/1"]).is_empty());
        let e = Expectation { status: Some(vec![200]), ..Default::default() };
        let s = not_sent(2, "GET a /s/{id} ×2".into(), &e, 2, &["id".to_owned()]);
        assert!(s.passed && s.observed.contains("`{id}` never captured"), "{s:?}");
        assert_eq!(s.answered.none, 2);
    }
}
