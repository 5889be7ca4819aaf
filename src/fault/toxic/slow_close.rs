//! `slow_close`: the end of the stream is passed on `delay` late.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic};
use crate::fault::spec::{Dur, EdgeFault, Effect};

/// `slow_close: 1s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowCloseSpec {
    /// Delay the close of a connection by this much.
    pub slow_close: Dur,
}

impl EdgeFault for SlowCloseSpec {
    const NAME: &'static str = "slow_close";
    const KEYS: &'static [&'static str] = &["slow_close"];

    type Error = std::convert::Infallible;

    fn effect(&self) -> Result<Effect, Self::Error> {
        Ok(Effect::toxic(SlowClose { delay: self.slow_close.0 }))
    }
}

#[derive(Debug)]
pub(crate) struct SlowClose {
    pub delay: Duration,
}

impl Toxic for SlowClose {
    fn on_data(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps
    }

    fn on_eof(&self, mut steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps.insert(0, Step::Sleep(self.delay));
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::ConnState;
    use std::time::Instant;

    #[test]
    fn delays_the_close_only() {
        let t = SlowClose { delay: Duration::from_secs(1) };
        let now = Instant::now();
        let mut st = ConnState::new(now);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let mut cx = Cx { now, arrived: now, state: &mut st, rng: &mut rng };
        assert_eq!(t.on_eof(vec![Step::Shutdown], &mut cx), [Step::Sleep(Duration::from_secs(1)), Step::Shutdown]);
        assert_eq!(t.on_data(vec![Step::Shutdown], &mut cx), [Step::Shutdown]);
    }
}
