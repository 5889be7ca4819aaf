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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::fault::container;
use crate::fault::spec::{self, Dur, Text};
use crate::fault::written::{self, Key, KnownKey, Written};

/// A scenario file, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "faultline scenario")]
pub(crate) struct ScenarioFile {
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
    /// Health endpoints probed while the steps run and the faults are in place: every
    /// answer must be a 2xx in time (a liveness endpoint must not fail because a dependency
    /// does). Exploration adds one for each service of the stack that declares `liveness`.
    #[serde(default)]
    pub probes: Vec<ProbeEntry>,
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

/// A health endpoint probed during the steps: `{ request: GET api /live, every: 250ms,
/// within: 1s }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeEntry {
    /// `METHOD SERVICE PATH`, sent to the service's first port directly (no proxy between).
    pub request: String,
    /// How often. Default 250 ms.
    #[serde(default)]
    pub every: Option<Dur>,
    /// Each probe answers a 2xx within this long. Default 1 s.
    #[serde(default)]
    pub within: Option<Dur>,
}

/// A fault: on an edge (`a -> b`) a fault of the fault engine, on a service a container
/// fault. Active from `at` for `for` (default: until the steps end).
///
/// Its other keys belong to the kinds of fault (`crate::fault::spec::KINDS`,
/// `crate::fault::container::KINDS`): each is checked as it is read, by the kind that owns
/// it, and kept in `keys`; which kind they make is for validation to say, once it knows
/// whether `on` is an edge or a service.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultEntry {
    /// `client -> dependency` for an edge, or a service name.
    pub on: String,
    /// When it starts, from the start of the steps. Default 0.
    pub at: Option<Dur>,
    /// How long it lasts. Default: until the steps end.
    pub duration: Option<Dur>,
    /// The fault's own keys, as written: `latency: 3s`, `pause: true`.
    pub keys: Written,
}

/// A [`FaultEntry`]'s keys of its own, for the schema.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct FaultEntryOwn {
    /// `client -> dependency` for an edge, or a service name.
    on: String,
    /// When it starts, from the start of the steps. Default 0.
    #[serde(default)]
    at: Option<Dur>,
    /// How long it lasts. Default: until the steps end.
    #[serde(default, rename = "for")]
    duration: Option<Dur>,
}

/// Every key of a fault entry: its own, then the container faults', then the edge faults'.
fn fault_entry_keys() -> &'static [&'static str] {
    static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut keys = vec!["on", "at", "for"];
        keys.extend(container::key_names());
        keys.extend(spec::key_names());
        keys
    });
    &KEYS
}

/// The keys of the kinds of fault, with the checks of their values.
fn fault_kind_keys() -> &'static [Key] {
    static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| container::keys().iter().chain(spec::keys()).copied().collect());
    &KEYS
}

impl<'de> Deserialize<'de> for FaultEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FaultEntryVisitor)
    }
}

struct FaultEntryVisitor;

impl<'de> Visitor<'de> for FaultEntryVisitor {
    type Value = FaultEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FaultEntry, A::Error> {
        let mut entry = FaultEntry::default();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(KnownKey(fault_entry_keys()))? {
            if ["on", "at", "for"].contains(&key) {
                if seen.contains(&key) {
                    return Err(de::Error::duplicate_field(key));
                }
                seen.push(key);
            }
            match key {
                "on" => entry.on = map.next_value()?,
                "at" => entry.at = map.next_value()?,
                "for" => entry.duration = map.next_value()?,
                _ => entry.keys.next_value(&mut map, key, fault_kind_keys())?,
            }
        }
        if !seen.contains(&"on") {
            return Err(de::Error::missing_field("on"));
        }
        Ok(entry)
    }
}

impl Serialize for FaultEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("on", &self.on)?;
        if let Some(at) = &self.at {
            m.serialize_entry("at", at)?;
        }
        if let Some(d) = &self.duration {
            m.serialize_entry("for", d)?;
        }
        for (k, v) in &self.keys.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl JsonSchema for FaultEntry {
    fn schema_name() -> Cow<'static, str> {
        "FaultEntry".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut props = written::schema_properties::<FaultEntryOwn>(generator);
        props.extend(container::schema_properties(generator));
        props.extend(spec::schema_properties(generator));
        written::object_schema(
            "A fault: on an edge (`a -> b`) a fault of the fault engine, on a service a container\nfault. \
             Active from `at` for `for` (default: until the steps end).",
            props,
            &["on"],
        )
    }
}

/// One step of the workload: exactly one of `request`, `load`, `exec`, `nextest`, `sleep`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
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
    /// With a `GET` request: the field of its answer that must equal what a datastore holds
    /// (`{ path: $.qty, sql: { service, query }, within: 5s }`, or `redis: { service,
    /// command }`). Every 2xx answer must agree with a value the truth held during the run,
    /// and once the faults have ended the request answers what the truth holds within
    /// `within` (default 5 s).
    #[serde(default)]
    #[schemars(with = "Option<crate::config::truth::AgreesSpec>")]
    pub agrees: Option<serde_json::Value>,
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
pub(crate) enum NumOrText {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NextestStep {
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
pub(crate) struct Expect {
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
pub(crate) struct ExecStep {
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
///
/// Its keys but `on` belong to the kinds of check (`super::check::KINDS`), each checked as
/// it is read by the kind that owns it and kept in `keys`.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// The edge of `max_attempts_per_request` or `max_requests`: `client -> dependency`.
    pub on: Option<String>,
    /// `settled: true`: the check need not hold right after the faults end, but must hold
    /// once the system has been quiet for `within`; it is tried again until then.
    pub settled: bool,
    /// With `settled`: how long the system may take to settle. Default three times the
    /// longest `within` of the scenario's requests (5 s when none says).
    pub within: Option<Dur>,
    /// The check's own keys, as written: `sql: {…}`, `expect_rows: 0`.
    pub keys: Written,
}

/// A [`Check`]'s key of its own, for the schema.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct CheckOwn {
    /// The edge of `max_attempts_per_request` or `max_requests`: `client -> dependency`.
    #[serde(default)]
    on: Option<String>,
    /// A `sql` or `redis` check that must hold once the system has settled after the
    /// faults (tried again until `within` has passed), not right after they end.
    #[serde(default)]
    settled: bool,
    /// With `settled: true`: how long the system may take to settle after the faults end.
    /// Default three times the longest `within` of the scenario's requests (5 s when none
    /// says).
    #[serde(default)]
    within: Option<Dur>,
}

/// A check's keys of its own, besides the kinds' keys.
const CHECK_OWN: &[&str] = &["on", "settled", "within"];

/// Every key of a check: its own, then the kinds' keys.
fn check_keys() -> &'static [&'static str] {
    static KEYS: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| CHECK_OWN.iter().chain(super::check::key_names()).copied().collect());
    &KEYS
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a check")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let mut check = Check::default();
        let mut seen: Vec<&str> = Vec::new();
        while let Some(key) = map.next_key_seed(KnownKey(check_keys()))? {
            if CHECK_OWN.contains(&key) {
                if seen.contains(&key) {
                    return Err(de::Error::duplicate_field(key));
                }
                seen.push(key);
            }
            match key {
                "on" => check.on = map.next_value()?,
                "settled" => check.settled = map.next_value()?,
                "within" => check.within = map.next_value()?,
                _ => check.keys.next_value(&mut map, key, super::check::keys())?,
            }
        }
        Ok(check)
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(on) = &self.on {
            m.serialize_entry("on", on)?;
        }
        for (k, v) in &self.keys.0 {
            m.serialize_entry(k, v)?;
        }
        if self.settled {
            m.serialize_entry("settled", &true)?;
        }
        if let Some(w) = &self.within {
            m.serialize_entry("within", w)?;
        }
        m.end()
    }
}

impl JsonSchema for Check {
    fn schema_name() -> Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut props = written::schema_properties::<CheckOwn>(generator);
        props.extend(super::check::schema_properties(generator));
        written::object_schema(
            "One check: exactly one of `max_attempts_per_request` or `max_requests` (with `on`),\n\
             `sql`, `redis`, `logs`, `recovers`.",
            props,
            &[],
        )
    }
}
