//! The checks on a stack: each kind judges itself (`crate::scenario::check`); the runner
//! answers what it asks ([`Probe`]) from the stack and the scenario's session.

use std::time::Duration;

use super::workload;
use crate::fault::Observations;
use crate::outcome::CheckOutcome;
use crate::scenario::check::{Call, Probe, Reply};
use crate::scenario::validate::CheckKind;
use crate::stack::{Stack, StackError};

/// Runs one check. `session` is the scenario's: a `recovers` request carries its cookies
/// and captured values, as the user the steps played would.
pub(crate) async fn run(
    stack: &Stack,
    index: usize,
    line: usize,
    check: &CheckKind,
    session: &workload::Session,
) -> CheckOutcome {
    let j = check.judge(&StackProbe { stack, session }).await;
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
