//! `limit_data`: the connection is closed once `bytes` have passed this way.

use super::{Cx, Step, Toxic};

#[derive(Debug)]
pub struct LimitData {
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
