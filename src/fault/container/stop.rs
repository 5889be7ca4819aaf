//! `stop: true`: the service is stopped gracefully (SIGTERM, then SIGKILL after 10 s), and
//! started again when the fault ends.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ContainerFault, ContainerKind, ContainerOp};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stop {
    /// Stop the service (SIGTERM, then SIGKILL after 10 s); it starts again when the fault
    /// ends.
    pub stop: bool,
}

impl ContainerKind for Stop {
    const NAME: &'static str = "stop";

    fn fault(self) -> Option<Arc<dyn ContainerFault>> {
        self.stop.then(|| Arc::new(self) as Arc<dyn ContainerFault>)
    }
}

impl ContainerFault for Stop {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn apply(&self) -> ContainerOp {
        ContainerOp::Stop
    }

    fn undo(&self) -> ContainerOp {
        ContainerOp::Start
    }

    fn restarts(&self) -> bool {
        true
    }
}
