//! `kill: true`: the service is killed with SIGKILL, and started again when the fault ends.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ContainerFault, ContainerKind, ContainerOp};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Kill {
    /// Kill the service (SIGKILL); it starts again when the fault ends.
    pub kill: bool,
}

impl ContainerKind for Kill {
    const NAME: &'static str = "kill";

    fn fault(self) -> Option<Arc<dyn ContainerFault>> {
        self.kill.then(|| Arc::new(self) as Arc<dyn ContainerFault>)
    }
}

impl ContainerFault for Kill {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn apply(&self) -> ContainerOp {
        ContainerOp::Kill
    }

    fn undo(&self) -> ContainerOp {
        ContainerOp::Start
    }

    fn restarts(&self) -> bool {
        true
    }
}
