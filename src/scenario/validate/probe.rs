//! The probes of a scenario (`probes:`): a health endpoint of a service of the stack,
//! requested on its first port while the steps run; every answer must be a 2xx in time.

use std::time::Duration;

use super::{RequestLine, Validator};
use crate::scenario::model::ProbeEntry;
use crate::ypath;

/// How often a probe is sent when its entry does not say.
pub const DEFAULT_EVERY: Duration = Duration::from_millis(250);
/// How long a probe may take to answer when its entry does not say.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(1);
/// The bounds of `every` and `within`.
const SHORTEST: Duration = Duration::from_millis(10);
const LONGEST: Duration = Duration::from_secs(60);

/// A validated probe: what is sent, how often, and how soon it must answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthProbe {
    pub line: RequestLine,
    pub every: Duration,
    pub within: Duration,
}

impl HealthProbe {
    /// The probe in words, the same in every run (a check's name, compared with the base's).
    pub fn describe(&self) -> String {
        format!(
            "{} answers 2xx within {} while the steps run (probed every {})",
            self.line,
            humantime::format_duration(self.within),
            humantime::format_duration(self.every)
        )
    }
}

impl Validator<'_> {
    pub(super) fn probe(&mut self, i: usize, p: &ProbeEntry) -> Option<HealthProbe> {
        let path = ypath!["probes", i];
        let line = self.request_line(&[&path[..], &ypath!["request"]].concat(), &p.request)?;
        let mut ok = true;
        let mut bounded = |v: &mut Self, key: &str, d: Option<Duration>, default: Duration| {
            let d = d.unwrap_or(default);
            if !(SHORTEST..=LONGEST).contains(&d) {
                let msg = format!(
                    "`{key}` of a probe is {} to {}, found {}",
                    humantime::format_duration(SHORTEST),
                    humantime::format_duration(LONGEST),
                    humantime::format_duration(d)
                );
                v.err(&[&path[..], &ypath![key]].concat(), msg, None);
                ok = false;
            }
            d
        };
        let every = bounded(self, "every", p.every.map(|d| d.0), DEFAULT_EVERY);
        let within = bounded(self, "within", p.within.map(|d| d.0), DEFAULT_WITHIN);
        ok.then_some(HealthProbe { line, every, within })
    }
}
