//! `disconnect: true`: the service is cut off its network (its published ports stop answering
//! too), and connected again when the fault ends.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ContainerFault, ContainerKind, ContainerOp};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Disconnect {
    /// Cut the service off its network; it is connected again when the fault ends.
    pub disconnect: bool,
}

impl ContainerKind for Disconnect {
    const NAME: &'static str = "disconnect";

    fn fault(self) -> Option<Arc<dyn ContainerFault>> {
        self.disconnect.then(|| Arc::new(self) as Arc<dyn ContainerFault>)
    }
}

impl ContainerFault for Disconnect {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn apply(&self) -> ContainerOp {
        ContainerOp::Disconnect
    }

    fn undo(&self) -> ContainerOp {
        ContainerOp::Reconnect
    }
}
