//! Faults on an edge as users write them — in scenario files and on `faultline proxy
//! --fault` — and their validation into the engine's types.
//!
//! One key names the kind (`latency: 3s`, `http: {status: 503, first: 2}`); the kind's other
//! keys tune it (`jitter`), and `direction` and `toxicity` ([`Scope`]) say where it applies.
//! Each kind is one file that owns its parameters, their checks and its effect (a toxic in
//! `toxic/`, the HTTP rule in `http/`), listed once in the table below ([`FaultSpec`]'s
//! variants and [`KINDS`] are made from it). A fault with impossible parameters is rejected
//! here, with the reason.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::http::{self, HttpRule};
use super::toxic::{self, Direction, Toxic};
use super::written::{self, Key, KeyTable, KnownKey, Written, WrittenError};

/// A duration as people write it: `3s`, `250ms`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Dur(pub Duration);

/// The longest duration a fault, step or bound may name. A gate that runs longer is a
/// mistake, and a bound this size keeps every sum of durations far from overflowing.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration a scenario may not name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("`{text}` is not a duration ({error}); write e.g. `250ms`, `3s`, `1m`")]
    NotADuration { text: String, error: humantime::DurationError },
    #[error("`{text}` is longer than a day, the longest duration a scenario may name")]
    TooLong { text: String },
}

impl TryFrom<String> for Dur {
    type Error = DurationError;
    fn try_from(text: String) -> Result<Self, DurationError> {
        let d = match humantime::parse_duration(text.trim()) {
            Ok(d) => d,
            Err(error) => return Err(DurationError::NotADuration { text, error }),
        };
        if d > MAX_DURATION {
            return Err(DurationError::TooLong { text });
        }
        Ok(Dur(d))
    }
}

impl From<Dur> for String {
    fn from(d: Dur) -> String {
        humantime::format_duration(d.0).to_string()
    }
}

/// Text that may be written as any scalar: `retry-after: 1` is the header value "1".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Text(s)),
            serde_yaml::Value::Number(n) => Ok(Text(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Text(b.to_string())),
            other => Err(serde::de::Error::custom(format!("expected text, found {other:?}"))),
        }
    }
}

/// One kind of fault on an edge: its parameters as written (the fields are its keys, the
/// key that names the kind first) and what they become in the engine.
pub trait EdgeFault: Serialize + for<'de> Deserialize<'de> + JsonSchema {
    /// The key that names the kind: `latency`.
    const NAME: &'static str;
    /// Every key the kind reads, its name first: `latency`, `jitter`.
    const KEYS: &'static [&'static str];
    /// What is wrong with parameters that read but make no fault (`Infallible` when any do).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Checks the parameters and builds the effect.
    fn effect(&self) -> Result<Effect, Self::Error>;
}

/// A fault on an edge that cannot be: its keys (their kinds, their values) or its
/// parameters.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A key no kind of edge fault reads.
    #[error("{}", written::unknown_key(.key, key_names()))]
    UnknownKey { key: String },
    #[error("a fault needs one of: {}", KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "))]
    NoKind,
    #[error("one fault, one kind: found {}; write them as separate faults", .kinds.join(", "))]
    SeveralKinds { kinds: Vec<&'static str> },
    /// A key of another kind than the one the fault names.
    #[error("`{key}` goes with {}", owners(.key))]
    OtherKindsKey { key: String },
    #[error(transparent)]
    Keys(#[from] WrittenError),
    #[error("toxicity must be between 0 and 1, found {0}")]
    Toxicity(f64),
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// On the command line: `http=1,http.status=503`.
    #[error("`{key}` is set both as a value and as a group in `{text}`")]
    ValueAndGroup { key: String, text: String },
    /// On the command line: the keys do not make a fault (serde's message of a [`SpecError`]).
    #[error(transparent)]
    Compact(serde_yaml::Error),
}

/// `` `http` `` or `` `a` or `b` ``: the kinds that read `key`.
fn owners(key: &str) -> String {
    let owners: Vec<String> = KINDS.iter().filter(|k| k.keys.contains(&key)).map(|k| format!("`{}`", k.name)).collect();
    owners.join(" or ")
}

/// What a kind of edge fault does in the engine.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A connection-level fault.
    Toxic(Arc<dyn Toxic>),
    /// A rule over the requests of an HTTP edge.
    Http(HttpRule),
}

impl Effect {
    pub(crate) fn toxic(t: impl Toxic + 'static) -> Effect {
        Effect::Toxic(Arc::new(t))
    }
}

/// A row of [`KINDS`]: how a kind's keys are read.
pub(crate) struct EdgeKind {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    check: written::CheckFn,
    parse: fn(Mapping, Scope) -> Result<FaultSpec, WrittenError>,
    schema: fn(&mut schemars::SchemaGenerator) -> serde_json::Map<String, serde_json::Value>,
}

/// The table of edge fault kinds: `Variant(its parameters)`, in the order they are listed to
/// people. A row makes a variant of [`FaultSpec`] and an entry of [`KINDS`].
macro_rules! edge_faults {
    ($($(#[$doc:meta])* $variant:ident($spec:ty),)*) => {
        /// A fault on an edge, as written: its kind with the kind's parameters, and where it
        /// applies.
        #[derive(Debug, Clone, PartialEq)]
        pub enum FaultSpec {
            $($(#[$doc])* $variant($spec, Scope),)*
        }

        /// Parameters of a kind that make no fault: the kind's own error.
        #[derive(Debug, thiserror::Error)]
        pub enum ParamsError {
            $(#[error(transparent)] $variant(<$spec as EdgeFault>::Error),)*
        }

        /// Every kind of edge fault.
        pub(crate) static KINDS: &[EdgeKind] = &[$(EdgeKind {
            name: <$spec as EdgeFault>::NAME,
            keys: <$spec as EdgeFault>::KEYS,
            check: written::check_as::<$spec>,
            parse: |m, scope| Ok(FaultSpec::$variant(written::read(m)?, scope)),
            schema: written::schema_properties::<$spec>,
        },)*];

        impl FaultSpec {
            pub(crate) fn scope(&self) -> &Scope {
                match self {
                    $(FaultSpec::$variant(_, scope) => scope,)*
                }
            }

            fn effect(&self) -> Result<Effect, ParamsError> {
                match self {
                    $(FaultSpec::$variant(p, _) => p.effect().map_err(ParamsError::$variant),)*
                }
            }

            /// The kind's keys as written.
            fn params(&self) -> serde_json::Value {
                match self {
                    $(FaultSpec::$variant(p, _) => serde_json::to_value(p).unwrap_or_default(),)*
                }
            }
        }
    };
}

edge_faults! {
    /// `latency: 3s` (with `jitter`): every chunk delivered late.
    Latency(toxic::latency::LatencySpec),
    /// `bandwidth: 64`: at most so many KiB/s.
    Bandwidth(toxic::bandwidth::BandwidthSpec),
    /// `timeout: 2s`: nothing passes; closed after that long.
    Timeout(toxic::timeout::TimeoutSpec),
    /// `blackhole: true`: nothing passes, never closed.
    Blackhole(toxic::timeout::BlackholeSpec),
    /// `reset: 1s`: every connection reset that long after the fault reaches it.
    Reset(toxic::reset::ResetSpec),
    /// `slicer: {…}`: data in small writes, delays in between.
    Slicer(toxic::slicer::SlicerFault),
    /// `limit_data: 1024`: closed once so many bytes passed.
    LimitData(toxic::limit_data::LimitDataSpec),
    /// `slow_close: 1s`: the end of the stream passed on late.
    SlowClose(toxic::slow_close::SlowCloseSpec),
    /// `refuse: true`: new connections reset when accepted.
    Refuse(toxic::refuse::RefuseSpec),
    /// `down: true`: open connections cut, new ones reset when accepted.
    Down(toxic::down::DownSpec),
    /// `http: {…}`: an answer, a delay or a lost reply for matching requests.
    Http(http::HttpFault),
}

/// Where an edge fault applies: the keys every kind takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Which way data is affected: `downstream` (replies, the default), `upstream`
    /// (requests) or `both`. Ignored by `refuse`, `reset` and `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The probability (0 to 1) that the fault applies to a given connection. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
}

impl Scope {
    pub(crate) const KEYS: &[&str] = &["direction", "toxicity"];
}

/// A validated fault, ready for the engine.
#[derive(Debug, Clone)]
pub enum Fault {
    Toxic { toxic: Arc<dyn Toxic>, direction: Direction, toxicity: f64 },
    Http(HttpRule),
}

impl Fault {
    /// Whether answers take longer while it is on (a guess of run time, not a promise).
    pub(crate) fn slows(&self) -> bool {
        match self {
            Fault::Toxic { toxic, .. } => toxic.slows(),
            Fault::Http(rule) => matches!(rule.action, http::HttpAction::Delay(_)),
        }
    }
}

/// Every key of an edge fault, each with the check of its value: the kinds' keys in table
/// order, then [`Scope`]'s.
pub(crate) fn keys() -> &'static [Key] {
    &TABLE.keys
}

/// The names of [`keys`].
pub(crate) fn key_names() -> &'static [&'static str] {
    &TABLE.names
}

static TABLE: LazyLock<KeyTable> = LazyLock::new(|| {
    let scope: (&'static [&'static str], written::CheckFn) = (Scope::KEYS, written::check_as::<Scope>);
    KeyTable::new(KINDS.iter().map(|k| (k.keys, k.check)).chain([scope]))
});

/// The JSON Schema properties of every key of an edge fault.
pub(crate) fn schema_properties(
    generator: &mut schemars::SchemaGenerator,
) -> serde_json::Map<String, serde_json::Value> {
    let mut props = serde_json::Map::new();
    for k in KINDS {
        props.extend((k.schema)(generator));
    }
    props.extend(written::schema_properties::<Scope>(generator));
    props
}

impl FaultSpec {
    /// The fault the keys describe: exactly one kind, the kind's own keys and [`Scope`]'s.
    /// The values were checked as they were read (see [`written`]).
    pub(crate) fn from_written(w: &Written) -> Result<FaultSpec, SpecError> {
        if let Some(k) = w.keys().find(|k| !key_names().contains(k)) {
            return Err(SpecError::UnknownKey { key: k.to_owned() });
        }
        let kinds: Vec<&EdgeKind> = KINDS.iter().filter(|k| w.has(k.name)).collect();
        let kind = match kinds.as_slice() {
            [one] => *one,
            [] => return Err(SpecError::NoKind),
            many => return Err(SpecError::SeveralKinds { kinds: many.iter().map(|k| k.name).collect() }),
        };
        if let Some(other) = w.keys().find(|k| !kind.keys.contains(k) && !Scope::KEYS.contains(k)) {
            return Err(SpecError::OtherKindsKey { key: other.to_owned() });
        }
        let scope = written::read(w.only(Scope::KEYS))?;
        Ok((kind.parse)(w.only(kind.keys), scope)?)
    }

    /// Checks the parameters and builds the engine's fault.
    pub fn validate(&self) -> Result<Fault, SpecError> {
        let toxicity = self.scope().toxicity.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&toxicity) || toxicity.is_nan() {
            return Err(SpecError::Toxicity(toxicity));
        }
        let direction = self.scope().direction.unwrap_or(Direction::Downstream);
        Ok(match self.effect()? {
            Effect::Toxic(toxic) => Fault::Toxic { toxic, direction, toxicity },
            Effect::Http(rule) => Fault::Http(rule),
        })
    }

    /// Parses the compact form of `faultline proxy --fault`: `latency=100ms,jitter=10ms`,
    /// `http.status=503,http.first=2,http.path=/charges`, `slicer.average_size=64`.
    pub fn parse_compact(s: &str) -> Result<FaultSpec, SpecError> {
        let mut map = Mapping::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, "true"));
            let value: Value = serde_yaml::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
            let mut target = &mut map;
            let mut segs = key.trim().split('.').peekable();
            while let Some(seg) = segs.next() {
                let k = Value::String(seg.to_owned());
                if segs.peek().is_none() {
                    target.insert(k, value.clone());
                    break;
                }
                let entry = target.entry(k).or_insert_with(|| Value::Mapping(Default::default()));
                target = match entry {
                    Value::Mapping(m) => m,
                    _ => return Err(SpecError::ValueAndGroup { key: seg.to_owned(), text: s.to_owned() }),
                };
            }
        }
        serde_yaml::from_value(Value::Mapping(map)).map_err(SpecError::Compact)
    }

    /// The compact form: `latency=3s,jitter=100ms`, `http.status=503,http.first=2` (keys in
    /// alphabetical order, `refuse` for `refuse: true`).
    pub(crate) fn compact(&self) -> String {
        compact(&self.written(), "")
    }

    /// Every key as written: the kind's and the scope's.
    fn written(&self) -> serde_json::Value {
        let mut all = match self.params() {
            serde_json::Value::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        if let Ok(serde_json::Value::Object(scope)) = serde_json::to_value(self.scope()) {
            all.extend(scope);
        }
        serde_json::Value::Object(all)
    }
}

/// Written back as its keys, the form it is read from.
impl Serialize for FaultSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.written().serialize(s)
    }
}

/// `{"latency": "3s", "http": {"status": 503}}` as `latency=3s,http.status=503`.
fn compact(v: &serde_json::Value, prefix: &str) -> String {
    match v {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| compact(x, &format!("{prefix}{k}.")))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        serde_json::Value::String(s) => format!("{}={s}", prefix.trim_end_matches('.')),
        serde_json::Value::Bool(true) => prefix.trim_end_matches('.').to_owned(),
        other => format!("{}={other}", prefix.trim_end_matches('.')),
    }
}

/// Read key by key (see [`written`]), so a fault in YAML or on the command line is checked
/// where each value is written.
impl<'de> Deserialize<'de> for FaultSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SpecVisitor)
    }
}

struct SpecVisitor;

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = FaultSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FaultSpec, A::Error> {
        let mut w = Written::default();
        while let Some(key) = map.next_key_seed(KnownKey(key_names()))? {
            w.next_value(&mut map, key, keys())?;
        }
        FaultSpec::from_written(&w).map_err(de::Error::custom)
    }
}

impl JsonSchema for FaultSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        written::object_schema(
            "A fault on an edge: exactly one kind key, its own keys, `direction` and `toxicity`.",
            schema_properties(generator),
            &[],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Result<Fault, SpecError> {
        FaultSpec::parse_compact(s)?.validate()
    }

    /// Why `s` is no fault.
    fn err(s: &str) -> String {
        v(s).unwrap_err().to_string()
    }

    fn toxic(s: &str) -> String {
        match v(s) {
            Ok(Fault::Toxic { toxic, direction, toxicity }) => format!("{toxic:?} {direction:?} {toxicity}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compact_form_builds_each_kind() {
        assert_eq!(toxic("latency=100ms,jitter=10ms"), "Latency { latency: 100ms, jitter: 10ms } Downstream 1");
        assert_eq!(toxic("bandwidth=64,direction=upstream"), "Bandwidth { bytes_per_sec: 65536 } Upstream 1");
        assert_eq!(toxic("blackhole"), "Timeout { close_after: None } Downstream 1");
        assert_eq!(toxic("timeout=2s"), "Timeout { close_after: Some(2s) } Downstream 1");
        assert_eq!(
            toxic("slicer.average_size=8,slicer.delay=1ms"),
            "Slicer { average: 8, variation: 0, delay: 1ms } Downstream 1"
        );
        assert!(matches!(v("http.status=503,http.first=2,http.path=/charges"), Ok(Fault::Http(_))));
        assert_eq!(toxic("refuse,toxicity=0.5"), "Refuse Downstream 0.5");
    }

    #[test]
    fn impossible_parameters_are_rejected_with_a_reason() {
        assert!(err("").contains("needs one of"));
        assert!(err("latency=1s,reset=0s").contains("one fault, one kind"));
        assert!(err("latency=3ss").contains("not a duration"));
        assert!(err("bandwidth=0").contains("passes nothing"));
        assert!(err("toxicity=1.5,latency=1s").contains("between 0 and 1"));
        assert!(err("slicer.average_size=4,slicer.size_variation=4").contains("smaller"));
        assert!(err("http.status=99").contains("not an HTTP status"));
        assert!(err("http.status=503,http.delay=1s").contains("exactly one"));
        assert!(err("http.status=503,http.first=0").contains("selects nothing"));
        assert!(err("http.status=503,http.percent=120").contains("between 0 and 100"));
        assert!(err("http.drop=reset,http.path=/a[").contains("path"));
        assert!(err("latncy=1s").contains("unknown field `latncy`"));
        assert_eq!(err("jitter=1s,bandwidth=3"), "`jitter` goes with `latency`");
    }

    #[test]
    fn the_compact_form_is_written_back_alike() {
        let spec = FaultSpec::parse_compact("latency=1s,jitter=100ms,toxicity=0.5,direction=both").unwrap();
        assert_eq!(spec.compact(), "direction=both,jitter=100ms,latency=1s,toxicity=0.5");
        assert_eq!(FaultSpec::parse_compact("refuse").unwrap().compact(), "refuse");
        let back: FaultSpec = serde_yaml::from_value(serde_yaml::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }
}
