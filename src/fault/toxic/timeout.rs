//! `timeout` / `blackhole`: nothing passes; the connection is closed after `close_after`,
//! or held open forever (a dependency that hangs).

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConnState, Cx, Step, Toxic};
use crate::fault::spec::{Dur, EdgeFault, Effect};

/// `timeout: 2s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSpec {
    /// Pass nothing, and close the connection after this long (`0s`: never close).
    pub timeout: Dur,
}

impl EdgeFault for TimeoutSpec {
    const NAME: &'static str = "timeout";
    const KEYS: &'static [&'static str] = &["timeout"];

    type Error = std::convert::Infallible;

    fn effect(&self) -> Result<Effect, Self::Error> {
        let d = self.timeout.0;
        Ok(Effect::toxic(Timeout { close_after: (!d.is_zero()).then_some(d) }))
    }
}

/// `blackhole: true`: a timeout that never closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSpec {
    /// Pass nothing and never close: the dependency hangs. Same as `timeout: 0s`.
    pub blackhole: bool,
}

impl EdgeFault for BlackholeSpec {
    const NAME: &'static str = "blackhole";
    const KEYS: &'static [&'static str] = &["blackhole"];

    type Error = BlackholeError;

    fn effect(&self) -> Result<Effect, BlackholeError> {
        match self.blackhole {
            true => Ok(Effect::toxic(Timeout { close_after: None })),
            false => Err(BlackholeError::False),
        }
    }
}

/// `blackhole` that makes no fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlackholeError {
    #[error("`blackhole: false` is no fault; remove it")]
    False,
}

#[derive(Debug)]
pub(crate) struct Timeout {
    pub close_after: Option<Duration>,
}

impl Toxic for Timeout {
    fn slows(&self) -> bool {
        true
    }

    fn on_data(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        // Data is swallowed; anything that ends the connection still happens.
        steps.into_iter().filter(|s| matches!(s, Step::Close | Step::Reset)).collect()
    }

    fn on_eof(&self, _steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        // The end of the stream is held back too: the peer sees nothing at all.
        Vec::new()
    }

    fn deadline(&self, state: &ConnState) -> Option<(Instant, Step)> {
        self.close_after.map(|d| (state.since + d, Step::Close))
    }

    fn swallows(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::testing;

    #[test]
    fn swallows_data_and_closes_at_the_deadline() {
        let t = Timeout { close_after: Some(Duration::from_secs(2)) };
        let now = Instant::now();
        let st = ConnState::new(now);
        assert!(testing::run(&t, &mut st.clone(), now, b"data").is_empty());
        assert_eq!(t.deadline(&st), Some((now + Duration::from_secs(2), Step::Close)));
        assert_eq!(Timeout { close_after: None }.deadline(&st), None);
    }
}
