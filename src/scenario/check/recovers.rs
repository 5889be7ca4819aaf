//! `recovers: { request, within, status, body | form, headers }`: after the faults end, the request
//! succeeds within a deadline, tried every 200 ms as the scenario's user.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckKind, Judgement, Probe, Reply};
use crate::config::Seg;
use crate::fault::spec::{Dur, Text};
use crate::scenario::model::Check;
use crate::scenario::validate::{Body, RequestLine, Validator};
use crate::ypath;

pub(super) const NAME: &str = "recovers";
pub(super) const KEYS: &[&str] = &[NAME];
pub(super) const ON: bool = false;
pub(super) const SETTLES: bool = false;
/// It sends requests to the system (a check that acts): the checks that only read run at
/// once, between the ones that act, which run alone in their written order.
pub(super) const ACTS: bool = true;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// After the faults end, a request succeeds within a deadline.
    recovers: RecoversCheck,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoversCheck {
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
    /// A form body (`application/x-www-form-urlencoded`), fields in the order written, as a
    /// step's `form`; `{n}` is the try number.
    #[serde(default)]
    pub form: Option<serde_json::Map<String, serde_json::Value>>,
    /// Request headers; `{n}` is the try number.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let Keys { recovers: r } = v.keys(c, KEYS, path)?;
    let line = v.request_line(&[path, &ypath!["recovers", "request"]].concat(), &r.request)?;
    let body = match (&r.body, &r.form) {
        (Some(_), Some(_)) => {
            v.err(
                &[path, &ypath!["recovers", "form"]].concat(),
                "a request has one body: `body` or `form`, not both",
                None,
            );
            return None;
        }
        (Some(b), None) => Some(Body::from_value(b)),
        (None, Some(f)) => Some(Body::Form(v.form(&[path, &ypath!["recovers", "form"]].concat(), f)?)),
        (None, None) => None,
    };
    Some(CheckKind::Recovers {
        line,
        within: r.within.map_or(Duration::from_secs(10), |d| d.0),
        status: r.status,
        body,
        headers: r.headers.into_iter().map(|(k, v)| (k, v.0)).collect(),
    })
}

pub(super) fn explain(
    line: &RequestLine,
    within: &Duration,
    _status: &Option<Vec<u16>>,
    _body: &Option<Body>,
    _headers: &[(String, String)],
) -> String {
    format!("{line} succeeds again within {}", humantime::format_duration(*within))
}

pub(super) async fn judge<P: Probe>(
    probe: &P,
    line: &RequestLine,
    within: &Duration,
    status: &Option<Vec<u16>>,
    body: &Option<Body>,
    headers: &[(String, String)],
) -> Judgement {
    let within = *within;
    let what = format!("{line} recovers within {}", humantime::format_duration(within));
    let ok = |s: u16| status.as_ref().map_or((200..300).contains(&s), |l| l.contains(&s));
    let expected = match status {
        Some(l) => format!("status in {l:?} within {}", humantime::format_duration(within)),
        None => format!("a 2xx within {}", humantime::format_duration(within)),
    };
    let call = Call { line, headers, body: body.as_ref() };
    let start = Instant::now();
    let mut last = String::from("no attempt");
    let mut tries = 0;
    while start.elapsed() < within {
        tries += 1;
        let left = within.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
        match probe.send(call, tries, left).await {
            Err(e) => return Judgement::failed(what, expected, e.to_string()),
            Ok(Reply::Status(s)) if ok(s) => {
                let observed = format!("{s} after {:.1} s ({tries} tries)", start.elapsed().as_secs_f64());
                return Judgement::judged(what, true, expected, observed);
            }
            Ok(Reply::Status(s)) => last = format!("status {s}"),
            Ok(Reply::Failed(why)) => last = why,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Judgement::failed(what, expected, format!("not recovered after {tries} tries; last: {last}"))
}
