//! `down: true`: the dependency is down, as when its process dies or its host goes away:
//! the connections open when the fault applies are cut, and new ones are reset as soon as
//! they are accepted. `refuse` leaves open connections alone, so a client that keeps a
//! pool (a database driver, an HTTP client with keep-alive) never meets a `refuse` on the
//! connections it already holds; it meets `down` on the next byte it sends.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic};
use crate::fault::spec::{EdgeFault, Effect};

/// `down: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownSpec {
    /// Cut the open connections when the fault applies, and reset new ones as soon as they
    /// are accepted.
    pub down: bool,
}

impl EdgeFault for DownSpec {
    const NAME: &'static str = "down";
    const KEYS: &'static [&'static str] = &["down"];

    type Error = DownError;

    fn effect(&self) -> Result<Effect, DownError> {
        match self.down {
            true => Ok(Effect::toxic(Down)),
            false => Err(DownError::False),
        }
    }
}

/// `down` that makes no fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownError {
    #[error("`down: false` is no fault; remove it")]
    False,
}

#[derive(Debug)]
pub(crate) struct Down;

impl Toxic for Down {
    fn on_data(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps
    }

    fn refuses(&self) -> bool {
        true
    }

    fn cuts_open(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_refuses_and_cuts() {
        let Ok(Effect::Toxic(t)) = (DownSpec { down: true }).effect() else { panic!("a toxic") };
        assert!(t.refuses() && t.cuts_open());
        assert_eq!(DownSpec { down: false }.effect().err(), Some(DownError::False));
    }
}
