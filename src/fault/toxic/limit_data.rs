//! `limit_data`: the connection is closed once `bytes` have passed this way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic};
use crate::fault::spec::{EdgeFault, Effect};

/// `limit_data: 1024`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitDataSpec {
    /// Close the connection once this many bytes have passed.
    pub limit_data: u64,
}

impl EdgeFault for LimitDataSpec {
    const NAME: &'static str = "limit_data";
    const KEYS: &'static [&'static str] = &["limit_data"];

    type Error = std::convert::Infallible;

    fn effect(&self) -> Result<Effect, Self::Error> {
        Ok(Effect::toxic(LimitData { bytes: self.limit_data }))
    }
}

#[derive(Debug)]
pub(crate) struct LimitData {
    pub bytes: u64,
}

impl Toxic for LimitData {
    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        let mut out = Vec::with_capacity(steps.len() + 1);
        for s in steps {
            match s {
                Step::Write(mut b) => {
                    let left = self.bytes.saturating_sub(cx.state.bytes);
                    if (b.len() as u64) < left {
                        cx.state.bytes += b.len() as u64;
                        out.push(Step::Write(b));
                    } else {
                        b.truncate(left as usize);
                        cx.state.bytes += left;
                        if !b.is_empty() {
                            out.push(Step::Write(b));
                        }
                        out.push(Step::Close);
                        return out;
                    }
                }
                other => out.push(other),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::{ConnState, testing};
    use std::time::Instant;

    #[test]
    fn passes_the_limit_then_closes() {
        let t = LimitData { bytes: 6 };
        let now = Instant::now();
        let mut st = ConnState::new(now);
        assert_eq!(testing::written(&testing::run(&t, &mut st, now, b"abcd")), b"abcd");
        let steps = testing::run(&t, &mut st, now, b"efgh");
        assert_eq!(testing::written(&steps), b"ef");
        assert_eq!(steps.last(), Some(&Step::Close));
    }
}
