//! `logs: { service, forbid, require }`: no log line of the service matches a `forbid`
//! pattern, and some line matches each `require` pattern.

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckKind, Judgement, Probe};
use crate::config::Seg;
use crate::scenario::model::Check;
use crate::scenario::validate::Validator;
use crate::ypath;

pub(super) const NAME: &str = "logs";
pub(super) const KEYS: &[&str] = &[NAME];
pub(super) const ON: bool = false;
pub(super) const SETTLES: bool = false;
/// It only reads (see `recovers::ACTS`).
pub(super) const ACTS: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// Log lines that must not, or must, appear.
    logs: LogsCheck,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsCheck {
    pub service: String,
    /// Regexes no log line may match.
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Regexes some log line must match.
    #[serde(default)]
    pub require: Vec<String>,
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let Keys { logs } = v.keys(c, KEYS, path)?;
    let service = v.service(&[path, &ypath!["logs", "service"]].concat(), &logs.service)?;
    let mut compile = |list: &[String], key: &str| -> Option<Vec<Regex>> {
        list.iter()
            .enumerate()
            .map(|(j, r)| {
                Regex::new(r)
                    .map_err(|e| {
                        v.err(
                            &[path, &ypath!["logs", key, j]].concat(),
                            format!("invalid regex: {}", e.to_string().lines().last().unwrap_or_default()),
                            None,
                        )
                    })
                    .ok()
            })
            .collect()
    };
    let forbid = compile(&logs.forbid, "forbid")?;
    let require = compile(&logs.require, "require")?;
    if forbid.is_empty() && require.is_empty() {
        v.err(path, "a logs check needs `forbid` or `require` patterns", None);
        return None;
    }
    Some(CheckKind::Logs { service, forbid, require })
}

pub(super) fn explain(service: &str, forbid: &[Regex], require: &[Regex]) -> String {
    let list = |l: &[Regex]| l.iter().map(|r| format!("/{}/", r.as_str())).collect::<Vec<_>>().join(", ");
    match (forbid.is_empty(), require.is_empty()) {
        (false, true) => format!("logs of {service}: no line matches {}", list(forbid)),
        (true, false) => format!("logs of {service}: a line matches {}", list(require)),
        _ => format!("logs of {service}: no line matches {}, a line matches {}", list(forbid), list(require)),
    }
}

pub(super) async fn judge<P: Probe>(probe: &P, service: &str, forbid: &[Regex], require: &[Regex]) -> Judgement {
    let mut what = format!("logs of {service}");
    let text = match probe.logs(service).await {
        Ok(t) => t,
        Err(e) => return Judgement::failed(what, "readable logs".into(), e.to_string()),
    };
    let mut expected = Vec::new();
    if !forbid.is_empty() {
        expected.push(format!(
            "no line matching {}",
            forbid.iter().map(|r| format!("/{r}/")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !require.is_empty() {
        expected.push(format!(
            "a line matching {}",
            require.iter().map(|r| format!("/{r}/")).collect::<Vec<_>>().join(" and ")
        ));
    }
    let expected = expected.join("; ");
    what.push_str(&format!(": {expected}"));
    for r in forbid {
        if let Some(line) = text.lines().find(|l| r.is_match(l)) {
            return Judgement::failed(what, expected, format!("found: {}", line.trim()));
        }
    }
    for r in require {
        if !text.lines().any(|l| r.is_match(l)) {
            let observed = format!("no line matches /{r}/ ({} lines)", text.lines().count());
            return Judgement::failed(what, expected, observed);
        }
    }
    Judgement::judged(what, true, expected, format!("{} lines, as expected", text.lines().count()))
}
