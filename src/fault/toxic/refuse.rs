//! `refuse`: new connections are reset as soon as they are accepted, so clients see their
//! connection fail at once. Open connections are left alone.

use super::{Cx, Step, Toxic};

#[derive(Debug)]
pub struct Refuse;

impl Toxic for Refuse {
    fn on_data(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps
    }

    fn refuses(&self) -> bool {
        true
    }
}
