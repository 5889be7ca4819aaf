//! What happened to a stack that faultline did not do: a container removed, killed, stopped
//! or paused, or cut off its network, from outside (`docker rm -f`, an engine restart, another
//! tool on the runner). Such a run says nothing about the change: the runner turns it into
//! "could not verify" naming the container and what the engine reported, instead of failed
//! checks blamed on the change.
//!
//! The engine's event stream for the run's objects is watched from the stack's start. Every
//! operation faultline itself carries out on a container (a container fault, a reset) opens a
//! window for that service; an event of one of the actions below outside every window of
//! its service is foreign. A service that crashes or exits by itself emits only `die` (and
//! `oom`), never `kill`, `stop`, `destroy` or `pause`: its failure stays the change's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::EventMessage;
use testcontainers::bollard::query_parameters::EventsOptionsBuilder;

use super::docker::{RUN, SERVICE};

/// Container actions only an API call causes (a crash emits `die` alone).
const CONTAINER_ACTIONS: [&str; 5] = ["kill", "stop", "destroy", "pause", "unpause"];
/// How long after faultline's own operation ends its events may still arrive.
const SLACK: Duration = Duration::from_secs(2);

/// A window in which faultline acts on a service (`None`: on every service).
struct Window {
    service: Option<String>,
    from: i64,
    to: Option<i64>,
}

#[derive(Default)]
struct Seen {
    windows: Vec<Window>,
    /// Container id → service, for network events (which name the container by id).
    ids: HashMap<String, String>,
    /// What faultline did not do: (the service, if known; what the engine reported).
    foreign: Vec<(Option<String>, String)>,
}

/// Watches the engine's events of one run.
pub(crate) struct Monitor {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

/// Nanoseconds since the epoch, as the engine stamps events.
fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Monitor {
    /// Starts watching the containers labelled with `run` and the run's `network` (the
    /// engine's network events carry no labels).
    pub(crate) fn start(docker: &Docker, run: &str, network: &str) -> Monitor {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let label = format!("{RUN}={run}");
        let containers = HashMap::from([("label", vec![label.as_str()]), ("type", vec!["container"])]);
        let networks = HashMap::from([("network", vec![network]), ("type", vec!["network"])]);
        let streams = [containers, networks]
            .map(|f| docker.events(Some(EventsOptionsBuilder::default().filters(&f).build())).boxed());
        let mut events = futures_util::stream::select_all(streams);
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(e)) = events.next().await {
                sink.lock().unwrap_or_else(|e| e.into_inner()).hear(&e);
            }
        });
        Monitor { seen, task }
    }

    /// Remembers which service a container is (its events by id).
    pub(crate) fn track(&self, container_id: &str, service: &str) {
        self.lock().ids.insert(container_id.to_owned(), service.to_owned());
    }

    /// faultline acts on `service` (`None`: on all of them) until the guard is dropped.
    pub(crate) fn ours(&self, service: Option<&str>) -> Ours {
        let mut seen = self.lock();
        seen.windows.push(Window { service: service.map(str::to_owned), from: now_ns(), to: None });
        Ours { seen: self.seen.clone(), index: seen.windows.len() - 1 }
    }

    /// Stops watching (the stack is being removed: its removal is faultline's).
    pub(crate) fn stop(&self) {
        self.task.abort();
    }

    /// What the engine reported that faultline did not do, so far: (the service, if known;
    /// what happened).
    pub(crate) fn foreign(&self) -> Vec<(Option<String>, String)> {
        self.lock().foreign.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// faultline's own operation on a service; its window closes when this is dropped.
pub(crate) struct Ours {
    seen: Arc<Mutex<Seen>>,
    index: usize,
}

impl Drop for Ours {
    fn drop(&mut self) {
        if let Some(w) = self.seen.lock().unwrap_or_else(|e| e.into_inner()).windows.get_mut(self.index) {
            w.to = Some(now_ns());
        }
    }
}

impl Seen {
    fn hear(&mut self, e: &EventMessage) {
        let action = e.action.as_deref().unwrap_or_default();
        let attrs = e.actor.as_ref().and_then(|a| a.attributes.as_ref());
        let attr = |k: &str| attrs.and_then(|a| a.get(k)).cloned();
        let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
        let (service, container) = match typ.as_str() {
            "container" if CONTAINER_ACTIONS.contains(&action) => (attr(SERVICE), attr("name")),
            "network" if action == "disconnect" => {
                let id = attr("container").unwrap_or_default();
                (self.ids.get(&id).cloned(), Some(id.chars().take(12).collect()))
            }
            _ => return,
        };
        let at = e.time_nano.unwrap_or_else(now_ns);
        let slack = i64::try_from(SLACK.as_nanos()).unwrap_or(i64::MAX);
        let ours = self.windows.iter().any(|w| {
            let same = match (&w.service, &service) {
                (None, _) => true,
                (Some(a), Some(b)) => a == b,
                (Some(_), None) => false,
            };
            same && at >= w.from && w.to.is_none_or(|to| at <= to.saturating_add(slack))
        });
        if ours {
            return;
        }
        let what = match action {
            "destroy" => "removed".to_owned(),
            "kill" => format!("killed (signal {})", attr("signal").unwrap_or_else(|| "?".into())),
            "stop" => "stopped".to_owned(),
            "pause" => "paused".to_owned(),
            "unpause" => "unpaused".to_owned(),
            _ => "disconnected from the run's network".to_owned(),
        };
        let line = format!(
            "{} (container {}) was {what} by someone other than faultline (engine event `{typ} {action}`)",
            service.as_deref().unwrap_or("a service"),
            container.as_deref().unwrap_or("?"),
        );
        self.foreign.push((service, line));
    }
}
