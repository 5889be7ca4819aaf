//! `reset`: the connection is reset (TCP RST) `after` the toxic starts to apply to it.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConnState, Cx, Step, Toxic};
use crate::fault::spec::{Dur, EdgeFault, Effect};

/// `reset: 1s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetSpec {
    /// Reset (TCP RST) every connection this long after the fault applies to it.
    pub reset: Dur,
}

impl EdgeFault for ResetSpec {
    const NAME: &'static str = "reset";
    const KEYS: &'static [&'static str] = &["reset"];

    type Error = std::convert::Infallible;

    fn effect(&self) -> Result<Effect, Self::Error> {
        Ok(Effect::toxic(Reset { after: self.reset.0 }))
    }
}

#[derive(Debug)]
pub(crate) struct Reset {
    pub after: Duration,
}

impl Toxic for Reset {
    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        if cx.now >= cx.state.since + self.after { vec![Step::Reset] } else { steps }
    }

    fn deadline(&self, state: &ConnState) -> Option<(Instant, Step)> {
        Some((state.since + self.after, Step::Reset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::testing;

    #[test]
    fn resets_once_due() {
        let now = Instant::now();
        let mut st = ConnState::new(now);
        assert_eq!(testing::run(&Reset { after: Duration::ZERO }, &mut st, now, b"x"), [Step::Reset]);
        let later = Reset { after: Duration::from_secs(1) };
        assert_eq!(testing::written(&testing::run(&later, &mut st, now, b"x")), b"x");
        assert_eq!(later.deadline(&st), Some((now + Duration::from_secs(1), Step::Reset)));
    }
}
