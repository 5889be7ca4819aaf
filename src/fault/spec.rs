//! Faults as users write them — in scenario files and on `faultline proxy --fault` — and
//! their validation into the engine's types.
//!
//! One key names the kind (`latency: 3s`, `http: {status: 503, first: 2}`); the others tune
//! it. A fault with impossible parameters is rejected here, with the reason.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::http::{HttpAction, HttpRule, RequestMatch, When};
use super::toxic::{Direction, ToxicKind};

/// A duration as people write it: `3s`, `250ms`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Dur(pub Duration);

/// The longest duration a fault, step or bound may name. A gate that runs longer is a
/// mistake, and a bound this size keeps every sum of durations far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

impl TryFrom<String> for Dur {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. `250ms`, `3s`, `1m`"))?;
        if d > MAX_DURATION {
            return Err(format!("`{s}` is longer than a day, the longest duration a scenario may name"));
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

/// A fault on an edge, as written. Exactly one of the kind keys is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Delay every chunk of data by this much (plus `jitter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    /// With `latency`: a random extra delay between -jitter and +jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// Limit throughput to this many kilobytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<u64>,
    /// Pass nothing, and close the connection after this long (`0s`: never close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Pass nothing and never close: the dependency hangs. Same as `timeout: 0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<bool>,
    /// Reset (TCP RST) every connection this long after the fault applies to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Dur>,
    /// Split data into small writes with delays in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slicer: Option<SlicerSpec>,
    /// Close the connection once this many bytes have passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_data: Option<u64>,
    /// Delay the close of a connection by this much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_close: Option<Dur>,
    /// Reset new connections as soon as they are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse: Option<bool>,
    /// An HTTP-level fault (HTTP edges only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
    /// Which way data is affected: `downstream` (replies, the default), `upstream`
    /// (requests) or `both`. Ignored by `refuse`, `reset` and `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The probability (0 to 1) that the fault applies to a given connection. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlicerSpec {
    /// Average size of a slice in bytes.
    pub average_size: usize,
    /// Slices vary by up to this many bytes around the average.
    #[serde(default)]
    pub size_variation: usize,
    /// Delay between slices.
    #[serde(default = "zero_dur")]
    pub delay: Dur,
}

fn zero_dur() -> Dur {
    Dur(Duration::ZERO)
}

/// An HTTP fault: which requests (`method`, `path`, and `first`/`every`/`percent`) and what
/// happens to them (`status`, `delay`, or `drop`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Only requests with this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path (without the query) matches this glob: `/charges`, `/orders/*`, `/api/**`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only the first N matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// Only every Nth matching request (the Nth, 2Nth, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Only this percentage of matching requests, drawn from the edge's seeded generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Answer with this status instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// With `status`: the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Text>,
    /// With `status`: extra response headers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, Text>,
    /// Hold the request this long, then forward it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// Forward the request, then drop the connection in the middle of the response: the
    /// dependency did the work and the reply is lost. `reset` (default) or `close`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropStyle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DropStyle {
    Reset,
    Close,
}

/// A validated fault, ready for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Toxic { kind: ToxicKind, direction: Direction, toxicity: f64 },
    Http(HttpRule),
}

/// The kind keys, for messages.
pub const KINDS: &[&str] =
    &["latency", "bandwidth", "timeout", "blackhole", "reset", "slicer", "limit_data", "slow_close", "refuse", "http"];

impl FaultSpec {
    /// Checks the parameters and builds the engine's fault.
    pub fn validate(&self) -> Result<Fault, String> {
        let set: Vec<&str> = [
            ("latency", self.latency.is_some()),
            ("bandwidth", self.bandwidth.is_some()),
            ("timeout", self.timeout.is_some()),
            ("blackhole", self.blackhole.is_some()),
            ("reset", self.reset.is_some()),
            ("slicer", self.slicer.is_some()),
            ("limit_data", self.limit_data.is_some()),
            ("slow_close", self.slow_close.is_some()),
            ("refuse", self.refuse.is_some()),
            ("http", self.http.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect();
        let kind = match set.as_slice() {
            [one] => *one,
            [] => return Err(format!("a fault needs one of: {}", KINDS.join(", "))),
            many => {
                return Err(format!("one fault, one kind: found {}; write them as separate faults", many.join(", ")));
            }
        };
        if self.jitter.is_some() && kind != "latency" {
            return Err("`jitter` goes with `latency`".into());
        }
        let toxicity = self.toxicity.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&toxicity) || toxicity.is_nan() {
            return Err(format!("toxicity must be between 0 and 1, found {toxicity}"));
        }
        let direction = self.direction.unwrap_or(Direction::Downstream);
        let kind = match kind {
            "latency" => ToxicKind::Latency {
                latency: self.latency.map(|d| d.0).unwrap_or_default(),
                jitter: self.jitter.map(|d| d.0).unwrap_or_default(),
            },
            "bandwidth" => match self.bandwidth {
                Some(0) => return Err("a bandwidth of 0 passes nothing: use `blackhole: true`".into()),
                Some(kbps) => ToxicKind::Bandwidth { bytes_per_sec: kbps * 1024 },
                None => unreachable!("kind is bandwidth"),
            },
            "timeout" => {
                let d = self.timeout.map(|d| d.0).unwrap_or_default();
                ToxicKind::Timeout { close_after: (!d.is_zero()).then_some(d) }
            }
            "blackhole" => match self.blackhole {
                Some(true) => ToxicKind::Timeout { close_after: None },
                _ => return Err("`blackhole: false` is no fault; remove it".into()),
            },
            "reset" => ToxicKind::Reset { after: self.reset.map(|d| d.0).unwrap_or_default() },
            "slicer" => {
                let s = self.slicer.as_ref().expect("kind is slicer");
                if s.average_size == 0 {
                    return Err("slicer.average_size must be at least 1 byte".into());
                }
                if s.size_variation >= s.average_size {
                    return Err(format!(
                        "slicer.size_variation ({}) must be smaller than average_size ({})",
                        s.size_variation, s.average_size
                    ));
                }
                ToxicKind::Slicer { average: s.average_size, variation: s.size_variation, delay: s.delay.0 }
            }
            "limit_data" => ToxicKind::LimitData { bytes: self.limit_data.unwrap_or_default() },
            "slow_close" => ToxicKind::SlowClose { delay: self.slow_close.map(|d| d.0).unwrap_or_default() },
            "refuse" => match self.refuse {
                Some(true) => ToxicKind::Refuse,
                _ => return Err("`refuse: false` is no fault; remove it".into()),
            },
            _ => return self.http.as_ref().expect("kind is http").validate().map(Fault::Http),
        };
        Ok(Fault::Toxic { kind, direction, toxicity })
    }

    /// Parses the compact form of `faultline proxy --fault`: `latency=100ms,jitter=10ms`,
    /// `http.status=503,http.first=2,http.path=/charges`, `slicer.average_size=64`.
    pub fn parse_compact(s: &str) -> Result<FaultSpec, String> {
        let mut map = serde_yaml::Mapping::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, "true"));
            let value: serde_yaml::Value =
                serde_yaml::from_str(value).unwrap_or_else(|_| serde_yaml::Value::String(value.to_owned()));
            let mut target = &mut map;
            let mut segs = key.trim().split('.').peekable();
            while let Some(seg) = segs.next() {
                let k = serde_yaml::Value::String(seg.to_owned());
                if segs.peek().is_none() {
                    target.insert(k, value.clone());
                    break;
                }
                let entry = target.entry(k).or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                target = match entry {
                    serde_yaml::Value::Mapping(m) => m,
                    _ => return Err(format!("`{seg}` is set both as a value and as a group in `{s}`")),
                };
            }
        }
        serde_yaml::from_value(serde_yaml::Value::Mapping(map)).map_err(|e| e.to_string())
    }
}

impl HttpSpec {
    fn validate(&self) -> Result<HttpRule, String> {
        let actions = [self.status.is_some(), self.delay.is_some(), self.drop.is_some()].iter().filter(|b| **b).count();
        let action = match (self.status, self.delay, self.drop) {
            _ if actions != 1 => return Err("an http fault needs exactly one of `status`, `delay`, `drop`".into()),
            (Some(s), _, _) if !(100..=599).contains(&s) => return Err(format!("{s} is not an HTTP status (100-599)")),
            (Some(s), _, _) if s < 200 => {
                return Err(format!("{s} is an interim status; answer with a final one (200-599)"));
            }
            (Some(status), _, _) => HttpAction::Respond {
                status,
                body: self.body.clone().map(|t| t.0).unwrap_or_default(),
                headers: self.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            },
            (_, Some(d), _) => HttpAction::Delay(d.0),
            (_, _, Some(style)) => HttpAction::Drop { reset: style == DropStyle::Reset },
            _ => unreachable!("one action is set"),
        };
        if (self.body.is_some() || !self.headers.is_empty()) && self.status.is_none() {
            return Err("`body` and `headers` go with `status`".into());
        }
        for (k, Text(v)) in &self.headers {
            if k.is_empty()
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                || v.contains(['\r', '\n'])
            {
                return Err(format!("`{k}: {v}` is not a valid HTTP header"));
            }
        }
        let when = match (self.first, self.every, self.percent) {
            (None, None, None) => When::Always,
            (Some(0), ..) => return Err("`first: 0` selects nothing".into()),
            (_, Some(0), _) => return Err("`every: 0` is not a period; use 1 for every request".into()),
            (Some(n), None, None) => When::First(n),
            (None, Some(n), None) => When::Every(n),
            (None, None, Some(p)) if (0.0..=100.0).contains(&p) => When::Percent(p),
            (None, None, Some(p)) => return Err(format!("percent must be between 0 and 100, found {p}")),
            _ => return Err("choose one of `first`, `every`, `percent`".into()),
        };
        let matcher = RequestMatch::new(self.method.as_deref(), self.path.as_deref())?;
        Ok(HttpRule { matcher, when, action })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Result<Fault, String> {
        FaultSpec::parse_compact(s)?.validate()
    }

    #[test]
    fn compact_form_builds_each_kind() {
        assert!(matches!(v("latency=100ms,jitter=10ms"), Ok(Fault::Toxic { kind: ToxicKind::Latency { .. }, .. })));
        assert!(matches!(
            v("bandwidth=64,direction=upstream"),
            Ok(Fault::Toxic { direction: Direction::Upstream, .. })
        ));
        assert!(matches!(v("blackhole"), Ok(Fault::Toxic { kind: ToxicKind::Timeout { close_after: None }, .. })));
        assert!(matches!(v("timeout=2s"), Ok(Fault::Toxic { kind: ToxicKind::Timeout { close_after: Some(_) }, .. })));
        assert!(matches!(
            v("slicer.average_size=8,slicer.delay=1ms"),
            Ok(Fault::Toxic { kind: ToxicKind::Slicer { .. }, .. })
        ));
        assert!(matches!(v("http.status=503,http.first=2,http.path=/charges"), Ok(Fault::Http(_))));
        assert!(matches!(v("refuse,toxicity=0.5"), Ok(Fault::Toxic { kind: ToxicKind::Refuse, .. })));
    }

    #[test]
    fn impossible_parameters_are_rejected_with_a_reason() {
        assert!(v("").unwrap_err().contains("needs one of"));
        assert!(v("latency=1s,reset=0s").unwrap_err().contains("one fault, one kind"));
        assert!(v("latency=3ss").unwrap_err().contains("not a duration"));
        assert!(v("bandwidth=0").unwrap_err().contains("passes nothing"));
        assert!(v("toxicity=1.5,latency=1s").unwrap_err().contains("between 0 and 1"));
        assert!(v("slicer.average_size=4,slicer.size_variation=4").unwrap_err().contains("smaller"));
        assert!(v("http.status=99").unwrap_err().contains("not an HTTP status"));
        assert!(v("http.status=503,http.delay=1s").unwrap_err().contains("exactly one"));
        assert!(v("http.status=503,http.first=0").unwrap_err().contains("selects nothing"));
        assert!(v("http.status=503,http.percent=120").unwrap_err().contains("between 0 and 100"));
        assert!(v("http.drop=reset,http.path=/a[").unwrap_err().contains("path"));
        assert!(v("latncy=1s").unwrap_err().contains("unknown field `latncy`"));
    }
}
