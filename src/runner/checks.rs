//! The checks on a stack: each kind judges itself (`crate::scenario::check`); the runner
//! answers what it asks ([`Probe`]) from the stack and the scenario's session.

use std::time::{Duration, Instant};

use super::workload;
use crate::fault::Observations;
use crate::outcome::CheckOutcome;
use crate::scenario::check::{Call, Probe, Reply};
use crate::scenario::validate::CheckKind;
use crate::stack::{Stack, StackError};

/// How often a `settled` check is judged again while it does not hold.
const SETTLE_EVERY: Duration = Duration::from_millis(500);

/// Runs one check. `session` is the scenario's: a `recovers` request carries its cookies
/// and captured values, as the user the steps played would. With `settle` (the bound and
/// when the system became quiet), a check that does not hold is judged again until it does
/// or the bound has passed.
pub(crate) async fn run(
    stack: &Stack,
    index: usize,
    line: usize,
    check: &CheckKind,
    session: &workload::Session,
    settle: Option<(Duration, Instant)>,
) -> CheckOutcome {
    let probe = StackProbe { stack, session };
    let mut j = check.judge(&probe).await;
    if let Some((bound, quiet)) = settle {
        let deadline = quiet + bound;
        let mut tries = 1;
        while !j.passed && !j.unobserved && Instant::now() < deadline {
            tokio::time::sleep(SETTLE_EVERY.min(deadline.saturating_duration_since(Instant::now()))).await;
            j = check.judge(&probe).await;
            tries += 1;
        }
        let after = quiet.elapsed().as_secs_f64();
        let bound = humantime::format_duration(bound);
        j.check = format!("{} once settled (within {bound} of the faults' end)", j.check);
        j.expected = format!("{} within {bound} of quiet after the faults", j.expected);
        j.observed = if j.passed {
            format!("{} after {after:.1} s of quiet", j.observed)
        } else {
            format!("{} still after {after:.1} s of quiet ({tries} tries)", j.observed)
        };
    }
    CheckOutcome {
        index,
        line,
        check: j.check,
        passed: j.passed,
        expected: j.expected,
        observed: j.observed,
        unobserved: j.unobserved,
    }
}

/// What checks see of the stack.
struct StackProbe<'a> {
    stack: &'a Stack,
    session: &'a workload::Session,
}

impl Probe for StackProbe<'_> {
    type Error = StackError;

    fn edge(&self, from: &str, to: &str) -> Option<Observations> {
        self.stack.edge(from, to).map(|p| p.observations())
    }

    async fn exec(&self, service: &str, cmd: &[&str]) -> Result<(i64, String), StackError> {
        self.stack.exec(service, cmd).await
    }

    async fn logs(&self, service: &str) -> Result<String, StackError> {
        self.stack.full_logs(service).await
    }

    async fn send(&self, call: Call<'_>, n: u32, timeout: Duration) -> Result<Reply, StackError> {
        let addr = self.stack.addr(&call.line.service)?;
        let req = workload::instance(call.line, call.headers, call.body, n, self.session);
        let (a, _) = workload::send(addr, call.line, req, timeout, Some(self.session), false).await;
        Ok(match a.status {
            Some(s) => Reply::Status(s),
            None => Reply::Failed(a.error.map_or_else(|| "no answer".into(), |e| e.to_string())),
        })
    }
}
