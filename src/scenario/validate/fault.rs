//! The faults of a scenario: on an edge a fault of the fault engine
//! ([`crate::fault::FaultSpec`]), on a service a container fault
//! ([`crate::fault::container`]), each kind read by its own file; here only which of the two
//! the entry is, and when.

use std::sync::Arc;
use std::time::Duration;

use super::{Validator, is_http_edge};
use crate::fault::container::{self, ContainerFault};
use crate::fault::{Fault, FaultSpec, spec};
use crate::scenario::model::FaultEntry;
use crate::ypath;

#[derive(Debug, Clone)]
pub enum FaultTarget {
    Edge { from: String, to: String, fault: Box<Fault> },
    Container { service: String, fault: Arc<dyn ContainerFault> },
}

impl FaultTarget {
    /// Whether answers take longer while it is on (a guess of run time, not a promise).
    pub(crate) fn slows(&self) -> bool {
        match self {
            FaultTarget::Edge { fault, .. } => fault.slows(),
            FaultTarget::Container { fault, .. } => fault.stalls(),
        }
    }

    /// Whether undoing it starts a service again.
    pub(crate) fn restarts(&self) -> bool {
        matches!(self, FaultTarget::Container { fault, .. } if fault.restarts())
    }
}

#[derive(Debug, Clone)]
pub struct TimedFault {
    /// `faults[i]` in the file, for messages.
    pub index: usize,
    pub on: String,
    /// What it does, in the `k=v` form of `faultline proxy --fault`: `latency=3s`, `pause`.
    pub what: String,
    pub at: Duration,
    /// `None`: until the steps end.
    pub duration: Option<Duration>,
    pub target: FaultTarget,
}

impl Validator<'_> {
    pub(super) fn fault(&mut self, i: usize, f: &FaultEntry) -> Option<TimedFault> {
        let path = ypath!["faults", i];
        let at = f.at.map(|d| d.0).unwrap_or_default();
        let duration = f.duration.map(|d| d.0);
        if duration == Some(Duration::ZERO) {
            self.err(
                &[&path[..], &ypath!["for"]].concat(),
                "`for: 0s` is no fault; remove it or give it a duration",
                None,
            );
        }
        let on = [&path[..], &ypath!["on"]].concat();
        let container_keys = f.keys.keys().filter(|k| container::key_names().contains(k)).count();
        if f.on.contains("->") {
            if container_keys > 0 {
                self.err(
                    &on,
                    format!("{} act on a service, not an edge", container::listing()),
                    Some("write `on: SERVICE`".into()),
                );
                return None;
            }
            let (from, to) = self.edge(&on, &f.on)?;
            let (fault, what) = match FaultSpec::from_written(&f.keys).and_then(|s| Ok((s.validate()?, s.compact()))) {
                Ok(built) => built,
                Err(reason) => {
                    self.err(&path, reason.to_string(), None);
                    return None;
                }
            };
            if matches!(fault, Fault::Http(_)) && !is_http_edge(self.config, &from, &to) {
                self.err(
                    &path,
                    format!(
                        "`{from} -> {to}` is not an HTTP edge: its url is not http:// and `{to}` has no `ready.http`"
                    ),
                    None,
                );
                return None;
            }
            return Some(TimedFault {
                index: i,
                on: f.on.clone(),
                what,
                at,
                duration,
                target: FaultTarget::Edge { from, to, fault: Box::new(fault) },
            });
        }
        let service = self.service(&on, f.on.trim())?;
        if f.keys.keys().any(|k| spec::key_names().contains(&k)) {
            self.err(
                &path,
                format!("`{service}` is a service: edge faults (latency, http, …) go on an edge `CLIENT -> {service}`"),
                None,
            );
            return None;
        }
        match container::from_written(&f.keys) {
            Ok(fault) => Some(TimedFault {
                index: i,
                on: f.on.clone(),
                what: fault.name().to_owned(),
                at,
                duration,
                target: FaultTarget::Container { service, fault },
            }),
            Err(reason) => {
                self.err(&path, reason.to_string(), None);
                None
            }
        }
    }
}
