//! `refuse`: new connections are reset as soon as they are accepted, so clients see their
//! connection fail at once. Open connections are left alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic};
use crate::fault::spec::{EdgeFault, Effect};

/// `refuse: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseSpec {
    /// Reset new connections as soon as they are accepted.
    pub refuse: bool,
}

impl EdgeFault for RefuseSpec {
    const NAME: &'static str = "refuse";
    const KEYS: &'static [&'static str] = &["refuse"];

    type Error = RefuseError;

    fn effect(&self) -> Result<Effect, RefuseError> {
        match self.refuse {
            true => Ok(Effect::toxic(Refuse)),
            false => Err(RefuseError::False),
        }
    }
}

/// `refuse` that makes no fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefuseError {
    #[error("`refuse: false` is no fault; remove it")]
    False,
}

#[derive(Debug)]
pub(crate) struct Refuse;

impl Toxic for Refuse {
    fn on_data(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps
    }

    fn refuses(&self) -> bool {
        true
    }
}
