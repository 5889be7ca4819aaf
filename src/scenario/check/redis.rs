//! `redis: { service, command }` with `expect: REPLY`: a command on a Redis service, through
//! `redis-cli` in its container.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckKind, Judgement, Probe};
use crate::config::Seg;
use crate::fault::spec::Text;
use crate::scenario::model::Check;
use crate::scenario::validate::Validator;
use crate::ypath;

pub(super) const NAME: &str = "redis";
pub(super) const KEYS: &[&str] = &[NAME, "expect"];
pub(super) const ON: bool = false;
pub(super) const SETTLES: bool = true;
/// It only reads (see `recovers::ACTS`).
pub(super) const ACTS: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// A command on a Redis service.
    redis: RedisCheck,
    /// With `sql`: the value the query must return; with `redis`: the reply.
    #[serde(default)]
    expect: Option<Text>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisCheck {
    pub service: String,
    /// The command and its arguments: `[GET, stock:A1]`.
    pub command: Vec<Text>,
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let Keys { redis, expect } = v.keys(c, KEYS, path)?;
    let at_service = [path, &ypath!["redis", "service"]].concat();
    let service = v.service(&at_service, &redis.service)?;
    if !v.looks_like(&service, "redis", 6379) {
        v.err(&at_service, format!("`{service}` is not a Redis service"), None);
        return None;
    }
    let Some(expect) = expect else {
        v.err(path, "a redis check needs `expect`: the reply", None);
        return None;
    };
    Some(CheckKind::Redis { service, command: redis.command.into_iter().map(|t| t.0).collect(), expect: expect.0 })
}

pub(super) fn explain(service: &str, command: &[String], expect: &str) -> String {
    format!("on {service}: `{}` replies `{expect}`", command.join(" "))
}

pub(super) async fn judge<P: Probe>(probe: &P, service: &str, command: &[String], expect: &str) -> Judgement {
    let what = format!("redis on {service}: {}", command.join(" "));
    let expected = format!("`{expect}`");
    let mut cmd = vec!["redis-cli"];
    cmd.extend(command.iter().map(String::as_str));
    match probe.exec(service, &cmd).await {
        Ok((0, out)) => {
            let got = out.trim().to_owned();
            Judgement::judged(what, got == expect.trim(), expected, format!("`{got}`"))
        }
        Ok((code, out)) => Judgement::failed(what, expected, format!("redis-cli failed (exit {code}): {}", out.trim())),
        Err(e) => Judgement::failed(what, expected, format!("cannot run redis-cli: {e}")),
    }
}
