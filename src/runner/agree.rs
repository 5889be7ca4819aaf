//! Answers agree with the source of truth (a request step's `agrees:`, see
//! [`crate::config::truth`]). The truth is sampled in its container, past every proxy, so no
//! fault reaches it: before the faults are applied, before and after each step that declares
//! it, and once the faults have ended. Two checks per such step:
//!
//! - every 2xx answer the step got carried a value the truth held at one of those samples
//!   (a read answered during a fault is an error or agrees with a value the truth held
//!   during the run: never a default, a stale copy, or an invention);
//! - once the faults have ended, the step's request sent again answers what the truth holds,
//!   within the staleness bound (`within`), tried again until then.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::workload::{self, Session};
use crate::config::truth::{Agreement, Truth, same};
use crate::outcome::CheckOutcome;
use crate::scenario::validate::{RequestStep, StepKind};
use crate::stack::Stack;

/// How long one sample of the truth may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the request is sent again while it does not agree after the faults.
const AGAIN_EVERY: Duration = Duration::from_millis(500);

/// Why the truth could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TruthError {
    #[error("cannot run it: {0}")]
    Exec(#[from] crate::stack::StackError),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("it failed (exit {code}): {output}")]
    Failed { code: i64, output: String },
}

/// Why an answer carried no value to compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoValue {
    /// A 2xx answer without the path in its body.
    #[error("a {status} answer with nothing at {path}")]
    NotThere { status: u16, path: String },
    /// Not a 2xx answer (after the faults).
    #[error("the request answered {0}, not 2xx")]
    Status(u16),
    #[error("no answer: {0}")]
    NoAnswer(String),
    #[error("the truth could not be read: {0}")]
    Truth(String),
}

/// What a 2xx answer carried at the path of `agrees:`.
pub(super) type Read = Result<String, NoValue>;

/// The values a truth was seen holding, and why its last read failed when one did.
type Held = (Vec<String>, Option<String>);

/// What a run saw of its `agrees:` steps: the values the truth held, the values answered.
#[derive(Debug, Default)]
pub(super) struct Record {
    /// Per truth (its text): the values it was seen holding, in order, and why the last read
    /// of it failed when one did.
    samples: Mutex<BTreeMap<String, Held>>,
    /// Per step index: what each 2xx answer carried at the path.
    reads: Mutex<BTreeMap<usize, Vec<Read>>>,
    /// Per step index: its truth as read while it ran (captured values filled in).
    read_as: Mutex<BTreeMap<usize, String>>,
}

impl Record {
    /// Reads `truth` now, with the session's captured values filled in, and keeps what it
    /// holds (or why it could not be read); nothing while a value it names is not captured.
    pub(super) async fn sample(&self, stack: &Stack, session: &Session, truth: &Truth) {
        let Some(truth) = session.truth(truth) else { return };
        let got = read(stack, &truth).await;
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let entry = s.entry(truth.to_string()).or_default();
        match got {
            Ok(v) => {
                if !entry.0.contains(&v) {
                    entry.0.push(v);
                }
            }
            Err(e) => entry.1 = Some(e.to_string()),
        }
    }

    /// The answers of step `index` at its path, and its truth as it was read meanwhile.
    pub(super) fn reads(&self, index: usize, values: Vec<Read>, truth: Option<Truth>) {
        self.reads.lock().unwrap_or_else(|e| e.into_inner()).entry(index).or_default().extend(values);
        if let Some(t) = truth {
            self.read_as.lock().unwrap_or_else(|e| e.into_inner()).insert(index, t.to_string());
        }
    }

    /// What step `index`'s truth was seen holding.
    fn samples_of(&self, index: usize, truth: &Truth) -> (Vec<String>, Option<String>) {
        let key = self.read_as.lock().unwrap_or_else(|e| e.into_inner()).get(&index).cloned();
        let key = key.unwrap_or_else(|| truth.to_string());
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned().unwrap_or_default()
    }
}

/// The steps of `steps` that declare `agrees:`, with their index.
pub(super) fn agreeing(steps: &[StepKind]) -> impl Iterator<Item = (usize, &RequestStep, &Agreement)> {
    steps.iter().enumerate().filter_map(|(i, s)| match s {
        StepKind::Request(r) => Some((i, r, r.agrees.as_ref()?)),
        _ => None,
    })
}

/// Every distinct truth of `steps`.
pub(super) fn truths(steps: &[StepKind]) -> Vec<&Truth> {
    let mut out: Vec<&Truth> = Vec::new();
    for (_, _, a) in agreeing(steps) {
        if !out.contains(&&a.truth) {
            out.push(&a.truth);
        }
    }
    out
}

/// What `truth` holds now, as text: the first column of the first row, or the reply.
pub(super) async fn read(stack: &Stack, truth: &Truth) -> Result<String, TruthError> {
    let cmd: Vec<&str> = match truth {
        Truth::Sql { query, database, .. } => {
            vec!["sh", "-c", crate::scenario::check::PSQL, query, database.as_deref().unwrap_or("")]
        }
        Truth::Redis { command, .. } => {
            std::iter::once("redis-cli").chain(command.iter().map(String::as_str)).collect()
        }
    };
    let (code, out) = tokio::time::timeout(SAMPLE_TIMEOUT, stack.exec(truth.service(), &cmd))
        .await
        .map_err(|_| TruthError::Timeout(SAMPLE_TIMEOUT))??;
    value(truth, code, &out)
}

/// The truth's value from its command's exit code and output.
fn value(truth: &Truth, code: i64, out: &str) -> Result<String, TruthError> {
    let failed = match truth {
        Truth::Sql { .. } => code != 0,
        Truth::Redis { .. } => code != 0 || out.starts_with("ERR ") || out.starts_with("WRONGTYPE "),
    };
    if failed {
        return Err(TruthError::Failed { code, output: out.trim().to_owned() });
    }
    Ok(match truth {
        // The first column of the first row (`psql -tA` separates columns with `|`).
        Truth::Sql { .. } => {
            out.lines().find(|l| !l.trim().is_empty()).unwrap_or("").split('|').next().unwrap_or("").trim().to_owned()
        }
        Truth::Redis { .. } => out.trim().to_owned(),
    })
}

/// The name of the check on step `index`'s answers (its step is found again from it, see
/// [`step_of`]).
fn during_name(index: usize, step: &RequestStep, a: &Agreement) -> String {
    format!("answers of step {} ({}) at {} agree with {}", index + 1, step.line, a.path.text, a.truth)
}

/// The 0-based step of an agreement check's name, for locating its declaration.
pub(crate) fn step_of(check: &str) -> Option<usize> {
    let rest = check.strip_prefix("answers of step ").or_else(|| check.strip_prefix("step "))?;
    let n: usize = rest.split_once(' ')?.0.parse().ok()?;
    (check.contains(" agree with ") || check.contains(" agrees with ")).then(|| n.checked_sub(1))?
}

/// `values`, quoted, as a list in words: `` `1` or `2` ``.
fn either(values: &[String]) -> String {
    if values.is_empty() {
        return "nothing".into();
    }
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ")
}

/// Whether every read agrees with one of `held` (the values the truth was seen holding):
/// `(passed, expected, observed)`. With nothing sampled, nothing can agree: the truth could
/// not be read (`unread` says why).
pub(crate) fn judge_reads(reads: &[Read], held: &[String], unread: Option<&str>) -> (bool, String, String) {
    let expected = "every 2xx answer carries a value the truth held during the run (else an error)".to_owned();
    if reads.is_empty() {
        return (true, expected, "no 2xx answer to compare".into());
    }
    if held.is_empty() {
        let why = unread.unwrap_or("no sample");
        return (false, expected, format!("the truth could not be read: {why}"));
    }
    let mut wrong = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        match r {
            Ok(v) if held.iter().any(|h| same(v, h)) => {}
            Ok(v) => wrong.push(format!("answer {} carried `{v}`", i + 1)),
            Err(why) => wrong.push(format!("answer {}: {why}", i + 1)),
        }
    }
    if wrong.is_empty() {
        let n = reads.len();
        return (
            true,
            expected,
            format!("{n} answer{} agreed (the truth held {})", if n == 1 { "" } else { "s" }, either(held)),
        );
    }
    let shown: Vec<String> = wrong.iter().take(3).cloned().collect();
    let more = if wrong.len() > 3 { format!(" and {} more", wrong.len() - 3) } else { String::new() };
    (
        false,
        expected,
        format!(
            "{}{more}, where the truth held {} ({} of {} answers disagree)",
            shown.join("; "),
            either(held),
            wrong.len(),
            reads.len()
        ),
    )
}

/// The first check on step `index`: its answers against what the truth held.
pub(super) fn during(index: usize, step: &RequestStep, a: &Agreement, record: &Record, at: usize) -> CheckOutcome {
    let reads = record.reads.lock().unwrap_or_else(|e| e.into_inner()).get(&index).cloned().unwrap_or_default();
    let (held, unread) = record.samples_of(index, &a.truth);
    let (passed, expected, observed) = judge_reads(&reads, &held, unread.as_deref());
    CheckOutcome {
        index: at,
        line: 0,
        check: during_name(index, step, a),
        passed,
        expected,
        observed,
        unobserved: false,
    }
}

/// The second check on step `index`: once the faults have ended (`quiet`), its request sent
/// again answers what the truth holds, tried again until `within` of quiet has passed.
pub(super) async fn after(
    stack: &Stack,
    session: &Session,
    index: usize,
    step: &RequestStep,
    a: &Agreement,
    quiet: Instant,
    at: usize,
) -> CheckOutcome {
    let bound = humantime::format_duration(a.within);
    let check =
        format!("step {} ({}) at {} agrees with {} once the faults ended", index + 1, step.line, a.path.text, a.truth);
    let expected = format!("the answer's value equals the truth's within {bound} of the faults' end");
    let texts = workload::texts(&step.line, &step.headers, step.body.as_ref());
    if session.truth(&a.truth).is_none() || !session.missing(texts.iter().map(String::as_str)).is_empty() {
        // An earlier step that captures what this one needs got no answer carrying it (an
        // error its expectation allows): there is no request to send again.
        let observed = "nothing to compare: what the step needs was never captured".to_owned();
        return CheckOutcome { index: at, line: 0, check, passed: true, expected, observed, unobserved: false };
    }
    let deadline = quiet + a.within;
    let mut tries = 0;
    let last = loop {
        tries += 1;
        let seen = once(stack, session, step, a).await;
        if let Ok((answer, truth)) = &seen
            && same(answer, truth)
        {
            let observed = format!(
                "`{answer}` after {:.1} s ({tries} tr{})",
                quiet.elapsed().as_secs_f64(),
                if tries == 1 { "y" } else { "ies" }
            );
            return CheckOutcome { index: at, line: 0, check, passed: true, expected, observed, unobserved: false };
        }
        if Instant::now() >= deadline {
            break seen;
        }
        tokio::time::sleep(AGAIN_EVERY.min(deadline.saturating_duration_since(Instant::now()))).await;
    };
    let observed = match last {
        Ok((answer, truth)) => format!("the answer carried `{answer}` where the truth held `{truth}`"),
        Err(why) => why.to_string(),
    };
    let observed = format!("{observed}, still after {:.1} s ({tries} tries)", quiet.elapsed().as_secs_f64());
    CheckOutcome { index: at, line: 0, check, passed: false, expected, observed, unobserved: false }
}

/// The request once and the truth right after: `(answer's value, truth's value)`.
async fn once(
    stack: &Stack,
    session: &Session,
    step: &RequestStep,
    a: &Agreement,
) -> Result<(String, String), NoValue> {
    let addr = stack.addr(&step.line.service).map_err(|e| NoValue::NoAnswer(e.to_string()))?;
    let req = workload::instance(&step.line, &step.headers, step.body.as_ref(), 0, session);
    let timeout = super::steps::request_timeout(&step.expect);
    let (answer, reply) = workload::send(addr, &step.line, req, timeout, Some(session), true).await;
    let value = match (answer.status, reply) {
        (Some(s), Some(r)) if (200..300).contains(&s) => {
            a.path.get(&r.body).ok_or_else(|| NoValue::NotThere { status: s, path: a.path.text.clone() })?
        }
        (Some(s), _) => return Err(NoValue::Status(s)),
        (None, _) => return Err(NoValue::NoAnswer(answer.error.map_or_else(|| "?".into(), |e| e.to_string()))),
    };
    let truth = session.truth(&a.truth).ok_or_else(|| NoValue::Truth("a value it names was never captured".into()))?;
    let truth = read(stack, &truth).await.map_err(|e| NoValue::Truth(e.to_string()))?;
    Ok((value, truth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_agrees_with_any_value_the_truth_held_and_nothing_else() {
        let held = ["".to_owned(), "1".to_owned()];
        assert!(judge_reads(&[Ok("1".into()), Ok("".into())], &held, None).0);
        assert!(judge_reads(&[Ok("1.0".into())], &held, None).0, "numbers compare as numbers");
        let (ok, _, observed) = judge_reads(&[Ok("1".into()), Ok("0".into())], &held, None);
        assert!(!ok);
        assert!(observed.contains("answer 2 carried `0`") && observed.contains("`` or `1`"), "{observed}");
        let (ok, _, observed) =
            judge_reads(&[Err(NoValue::NotThere { status: 200, path: "$.qty".into() })], &held, None);
        assert!(!ok && observed.contains("a 200 answer with nothing at $.qty"), "{observed}");
        // No 2xx answer: nothing to compare (errors are allowed).
        assert!(judge_reads(&[], &[], None).0);
        // The truth never read: nothing can agree.
        let (ok, _, observed) = judge_reads(&[Ok("1".into())], &[], Some("psql failed"));
        assert!(!ok && observed.contains("psql failed"), "{observed}");
    }

    #[test]
    fn the_truths_value_is_its_first_column_or_reply() {
        let sql = Truth::Sql { service: "db".into(), query: "q".into(), database: None };
        let redis = Truth::Redis { service: "r".into(), command: vec!["GET".into(), "n".into()] };
        assert_eq!(value(&sql, 0, "\n5|a\n6|b\n").ok().as_deref(), Some("5"));
        assert_eq!(value(&sql, 0, "").ok().as_deref(), Some(""));
        assert!(value(&sql, 1, "ERROR: no such table").is_err());
        assert_eq!(value(&redis, 0, "7\n").ok().as_deref(), Some("7"));
        assert!(value(&redis, 0, "ERR unknown command").is_err());
    }

    #[test]
    fn an_agreement_checks_step_is_found_from_its_name() {
        assert_eq!(step_of("answers of step 2 (GET api /n) at $.n agree with redis on r: GET n"), Some(1));
        assert_eq!(step_of("step 3 (GET api /n) at $.n agrees with redis on r: GET n once the faults ended"), Some(2));
        assert_eq!(step_of("step 3 (GET api /n) fails"), None);
        assert_eq!(step_of("recovers"), None);
    }
}
