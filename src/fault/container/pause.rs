//! `pause: true`: the service's processes are frozen: its connections stay open and time out.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ContainerFault, ContainerKind, ContainerOp};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pause {
    /// Freeze the service: its connections stay open and time out.
    pub pause: bool,
}

impl ContainerKind for Pause {
    const NAME: &'static str = "pause";

    fn fault(self) -> Option<Arc<dyn ContainerFault>> {
        self.pause.then(|| Arc::new(self) as Arc<dyn ContainerFault>)
    }
}

impl ContainerFault for Pause {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn apply(&self) -> ContainerOp {
        ContainerOp::Pause
    }

    fn undo(&self) -> ContainerOp {
        ContainerOp::Unpause
    }

    fn stalls(&self) -> bool {
        true
    }
}
