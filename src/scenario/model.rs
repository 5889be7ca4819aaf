//! The scenario file: what a senior writes down that the system must survive, and why.
//!
//! ```yaml
//! name: payments-slow
//! target: orders
//! why: Payments p99 reaches 1.2 s at month end; orders must answer within 2 s (INC-2231).
//! faults:
//!   - on: orders -> payments      # an edge: any fault of the fault engine
//!     latency: 3s
//!   - on: postgres                # a service: pause, kill, stop or disconnect
//!     pause: true
//!     at: 1s
//!     for: 2s
//! steps:
//!   - request: POST orders /orders
//!     body: { sku: "A1", qty: 1 }
//!     repeat: 10
//!     expect: { status: [201, 503], within: 2500ms }
//! checks:
//!   - on: orders -> payments
//!     max_attempts_per_request: 3
//!   - logs: { service: orders, forbid: ["panicked at"] }
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fault::spec::{Dur, FaultSpec, Text};

/// A scenario file, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "faultline scenario")]
pub struct ScenarioFile {
    /// Default: the file name without `.yaml`.
    #[serde(default)]
    pub name: Option<String>,
    /// A template that ships with faultline (`faultline templates` lists them): its faults,
    /// steps and checks come first, filled in from `with`; this file's are added after them,
    /// and its `name`, `target` and `why` take precedence.
    #[serde(default, rename = "use")]
    pub uses: Option<String>,
    /// The template's parameters.
    #[serde(default)]
    pub with: BTreeMap<String, serde_json::Value>,
    /// The service the scenario protects. The stack is it and everything it depends on.
    /// Required unless the template sets it.
    #[serde(default)]
    pub target: Option<String>,
    /// Why the system must survive this: quoted in the report when a check fails. Required
    /// unless the template sets it.
    #[serde(default)]
    pub why: Option<String>,
    /// Faults on the timeline.
    #[serde(default)]
    pub faults: Vec<FaultEntry>,
    /// The workload, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold afterwards.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// With `use`: the template's checks of these kinds are left out (`max_attempts_per_request`,
    /// `max_requests`, `sql`, `redis`, `logs`, `recovers`), for a system one of them does not
    /// fit; add what does fit under `checks`.
    #[serde(default)]
    pub drop_checks: Vec<String>,
    /// Run on a stack of its own, started for it and removed after, instead of a shared
    /// stack reset between scenarios.
    #[serde(default)]
    pub fresh: bool,
}

/// A fault: on an edge (`a -> b`) a fault of the fault engine, on a service a container
/// fault. Active from `at` for `for` (default: until the steps end).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// `client -> dependency` for an edge, or a service name.
    pub on: String,
    /// When it starts, from the start of the steps. Default 0.
    #[serde(default)]
    pub at: Option<Dur>,
    /// How long it lasts. Default: until the steps end.
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
    /// Container faults (on a service).
    #[serde(default)]
    pub pause: Option<bool>,
    #[serde(default)]
    pub kill: Option<bool>,
    #[serde(default)]
    pub stop: Option<bool>,
    #[serde(default)]
    pub disconnect: Option<bool>,
    // Edge faults: the fault engine's keys.
    #[serde(default)]
    pub latency: Option<Dur>,
    #[serde(default)]
    pub jitter: Option<Dur>,
    #[serde(default)]
    pub bandwidth: Option<u64>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub blackhole: Option<bool>,
    #[serde(default)]
    pub reset: Option<Dur>,
    #[serde(default)]
    pub slicer: Option<crate::fault::spec::SlicerSpec>,
    #[serde(default)]
    pub limit_data: Option<u64>,
    #[serde(default)]
    pub slow_close: Option<Dur>,
    #[serde(default)]
    pub refuse: Option<bool>,
    #[serde(default)]
    pub http: Option<crate::fault::spec::HttpSpec>,
    #[serde(default)]
    pub direction: Option<crate::fault::toxic::Direction>,
    #[serde(default)]
    pub toxicity: Option<f64>,
}

/// A container fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerFault {
    Pause,
    Kill,
    Stop,
    Disconnect,
}

impl FaultEntry {
    pub fn container_fault(&self) -> Option<ContainerFault> {
        [
            (self.pause, ContainerFault::Pause),
            (self.kill, ContainerFault::Kill),
            (self.stop, ContainerFault::Stop),
            (self.disconnect, ContainerFault::Disconnect),
        ]
        .into_iter()
        .find_map(|(on, f)| on.filter(|b| *b).map(|_| f))
    }

    pub fn container_keys(&self) -> usize {
        [self.pause, self.kill, self.stop, self.disconnect].iter().filter(|k| k.is_some()).count()
    }

    /// The edge-fault part, for the fault engine.
    pub fn edge_spec(&self) -> FaultSpec {
        FaultSpec {
            latency: self.latency,
            jitter: self.jitter,
            bandwidth: self.bandwidth,
            timeout: self.timeout,
            blackhole: self.blackhole,
            reset: self.reset,
            slicer: self.slicer.clone(),
            limit_data: self.limit_data,
            slow_close: self.slow_close,
            refuse: self.refuse,
            http: self.http.clone(),
            direction: self.direction,
            toxicity: self.toxicity,
        }
    }

    /// Whether any edge-fault key is set.
    pub fn has_edge_keys(&self) -> bool {
        self.edge_spec() != FaultSpec::default()
    }
}

/// One step of the workload: exactly one of `request`, `load`, `exec`, `nextest`, `sleep`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `METHOD SERVICE PATH`, e.g. `POST orders /orders`. Sent to the service through its
    /// ingress proxy.
    #[serde(default)]
    pub request: Option<String>,
    /// `METHOD SERVICE PATH` sent at `rate` for `for`, whether or not earlier requests
    /// have answered (an open loop, as real traffic arrives).
    #[serde(default)]
    pub load: Option<String>,
    /// With `load`: requests per second, `50`, `50/s` or `3000/min`.
    #[serde(default)]
    pub rate: Option<NumOrText>,
    /// With `load`: how long it lasts.
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
    /// The body: a mapping or list is sent as JSON; a string is sent as it is (`text/plain`
    /// unless `headers` set `content-type`). `{n}` in strings is the iteration number,
    /// `{NAME}` a value an earlier step captured.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// A form body (`application/x-www-form-urlencoded`), fields in the order written;
    /// `{n}` and `{NAME}` as in `body`.
    #[serde(default)]
    pub form: Option<serde_json::Map<String, serde_json::Value>>,
    /// Request headers; `{n}` is the iteration number, `{NAME}` a captured value. Cookies a
    /// service set (`Set-Cookie`) are sent back to it on later requests of the scenario.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
    /// With `request`: values of the last answer kept for later steps' paths, headers and
    /// bodies as `{NAME}`: `json:/id` (a JSON pointer into the answer's body) or
    /// `header:location`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// How many times. Default 1.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// How many at once. Default 1.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// What each request must do.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// A command in a service's container (`service`) or on the host (no `service`).
    #[serde(default)]
    pub exec: Option<ExecStep>,
    /// Run the repository's own tests with cargo-nextest while the faults are on.
    #[serde(default)]
    pub nextest: Option<NextestStep>,
    /// Wait this long.
    #[serde(default)]
    pub sleep: Option<Dur>,
}

/// A number, or text such as `50/s` or `1%`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum NumOrText {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextestStep {
    /// A nextest filterset: `test(/checkout/)`, `package(orders) and binary(live)`.
    pub filter: String,
    /// Extra environment of the tests; `{SERVICE.host}`, `{SERVICE.port}`,
    /// `{SERVICE.addr}` and `{SERVICE.url}` in values are the service's address through its
    /// ingress proxy. Besides these, every service of the stack is in
    /// `FAULTLINE_<SERVICE>_ADDR` (`127.0.0.1:PORT`) and `FAULTLINE_<SERVICE>_URL`
    /// (`http://127.0.0.1:PORT`).
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Allowed statuses. Default: any status below 500.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// Every request answers within this long.
    #[serde(default)]
    pub within: Option<Dur>,
    /// The share of requests that may fail (a status not in `status`, or no answer):
    /// `1%`, `0.01`. Default 0: none.
    #[serde(default)]
    pub error_rate: Option<NumOrText>,
    /// Latency percentile bounds, nearest rank over every request.
    #[serde(default)]
    pub p50: Option<Dur>,
    #[serde(default)]
    pub p90: Option<Dur>,
    #[serde(default)]
    pub p95: Option<Dur>,
    #[serde(default)]
    pub p99: Option<Dur>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    /// The service whose container runs the command; omit to run it on the host.
    #[serde(default)]
    pub service: Option<String>,
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// The exit code it must end with. Default 0.
    #[serde(default)]
    pub expect_exit: Option<i64>,
    /// On the host: extra environment, with the placeholders of `nextest` steps'
    /// `env` (`{postgres.port}`). A host command also gets `FAULTLINE_<SERVICE>_ADDR` and
    /// `_URL` of every service.
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
}

/// One check: exactly one of `max_attempts_per_request` or `max_requests` (with `on`),
/// `sql`, `redis`, `logs`, `recovers`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The edge of `max_attempts_per_request` or `max_requests`: `client -> dependency`.
    #[serde(default)]
    pub on: Option<String>,
    /// No request crosses the edge more often than this (retries grouped by
    /// `Idempotency-Key` or `X-Request-Id`).
    #[serde(default)]
    pub max_attempts_per_request: Option<u32>,
    /// At most this many HTTP requests cross the edge over the whole scenario: a bound on
    /// retries for clients whose requests carry no id to group them by (most calls to an
    /// outside API). No request at all is not a pass: the bound was never tested.
    #[serde(default)]
    pub max_requests: Option<u32>,
    /// A query on a PostgreSQL service.
    #[serde(default)]
    pub sql: Option<SqlCheck>,
    /// The number of rows the query must return.
    #[serde(default)]
    pub expect_rows: Option<u64>,
    /// With `sql`: the value the query must return; with `redis`: the reply.
    #[serde(default)]
    pub expect: Option<Text>,
    /// A command on a Redis service.
    #[serde(default)]
    pub redis: Option<RedisCheck>,
    /// Log lines that must not, or must, appear.
    #[serde(default)]
    pub logs: Option<LogsCheck>,
    /// After the faults end, a request succeeds within a deadline.
    #[serde(default)]
    pub recovers: Option<RecoversCheck>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    pub service: String,
    pub query: String,
    /// The database the query runs in. Default: the container's `POSTGRES_DB`, else
    /// `PGDATABASE`, else `postgres`; name it when the service keeps its tables elsewhere.
    #[serde(default)]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisCheck {
    pub service: String,
    /// The command and its arguments: `[GET, stock:A1]`.
    pub command: Vec<Text>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsCheck {
    pub service: String,
    /// Regexes no log line may match.
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Regexes some log line must match.
    #[serde(default)]
    pub require: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoversCheck {
    /// `METHOD SERVICE PATH`.
    pub request: String,
    /// The deadline, counted from the end of the faults. Default 10 s.
    #[serde(default)]
    pub within: Option<Dur>,
    /// Statuses that count as recovered. Default: 2xx.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// A JSON body; `{n}` in strings is the try number.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Request headers; `{n}` is the try number.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
}
