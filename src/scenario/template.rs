//! Scenario templates: the failures every system meets (a dependency slow, down or flaky, a
//! reply lost after the work was done, a database that stalls), written once and shipped
//! with faultline from the top-level `scenarios/` folder. A scenario uses one with
//! `use: NAME` and fills its parameters under `with:`:
//!
//! ```yaml
//! use: dependency-slow
//! with: { client: orders, dependency: payments, request: POST orders /orders, within: 2500ms }
//! why: Payments p99 reaches 1.2 s at month end (INC-2231).
//! checks:                # added after the template's own
//!   - on: orders -> payments
//!     max_attempts_per_request: 3
//! ```
//!
//! A template is a scenario whose strings may hold `{{param}}`. A string that is exactly
//! one placeholder takes the parameter's value whatever its type (a body, a list of
//! statuses); elsewhere the value is written into the text. Parameters are typed, so a
//! mistake in `with:` is reported at the user's line, not in the template; a problem the
//! validator finds in a value that came from `with:` is located there too (see [`Locator`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::model::ScenarioFile;
use crate::config::diagnostic::nearest;
use crate::config::{Config, ConfigError, FileDiagnostic, Seg, SourceFile};
use crate::fault::spec::{Dur, DurationError};
use crate::ypath;

/// The templates that ship with faultline, as files: (file name, text).
const BUILTIN: &[(&str, &str)] = &[
    ("database-paused.yaml", include_str!("../../scenarios/database-paused.yaml")),
    ("dependency-down.yaml", include_str!("../../scenarios/dependency-down.yaml")),
    ("dependency-flaky.yaml", include_str!("../../scenarios/dependency-flaky.yaml")),
    ("dependency-slow.yaml", include_str!("../../scenarios/dependency-slow.yaml")),
    ("response-lost-after-commit.yaml", include_str!("../../scenarios/response-lost-after-commit.yaml")),
];

/// What a parameter holds; checked before the template is filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// A service of faultline.yaml.
    Service,
    /// `250ms`, `3s`.
    Duration,
    /// A whole number.
    Int,
    /// `METHOD SERVICE PATH`.
    Request,
    /// A list of HTTP statuses.
    Statuses,
    /// Text.
    String,
    /// Anything: a JSON body, headers.
    Any,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    #[serde(rename = "type")]
    pub kind: ParamKind,
    /// What the parameter means, for `faultline templates`.
    pub doc: String,
    /// The value when `with:` leaves it out; no default makes it required. `null` is a
    /// default too (the key it fills is then left out).
    #[serde(default, deserialize_with = "present")]
    pub default: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    template: String,
    description: String,
    params: BTreeMap<String, Param>,
    scenario: Value,
}

/// A template, parsed.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub params: BTreeMap<String, Param>,
    /// The `scenario:` part, placeholders unfilled.
    body: Value,
    /// For locating problems in the template itself.
    src: SourceFile,
}

/// Every template that ships with faultline, sorted by name. A broken built-in template is
/// a bug of faultline (the test suite parses each one), reported as such.
pub fn builtin() -> &'static [Template] {
    static ALL: OnceLock<Vec<Template>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Template> = BUILTIN
            .iter()
            .filter_map(|(file, text)| match parse_template(file, text) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!("faultline bug: the built-in template {file} is broken: {e}");
                    None
                }
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    })
}

/// Why a built-in template is broken (a bug of faultline, which its tests catch).
#[derive(Debug, thiserror::Error)]
enum TemplateError {
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),

    #[error("`{{{{{0}}}}}` is not a declared parameter")]
    Undeclared(String),

    #[error("parameter `{0}` is never used")]
    Unused(String),
}

fn parse_template(file: &str, text: &str) -> Result<Template, TemplateError> {
    let t: TemplateFile = serde_yaml::from_str(text)?;
    let mut used = Vec::new();
    placeholders(&t.scenario, &mut used);
    if let Some(p) = used.iter().find(|p| !t.params.contains_key(*p)) {
        return Err(TemplateError::Undeclared(p.clone()));
    }
    if let Some(p) = t.params.keys().find(|p| !used.contains(p)) {
        return Err(TemplateError::Unused(p.clone()));
    }
    Ok(Template {
        name: t.template,
        description: t.description.trim().to_owned(),
        params: t.params,
        body: t.scenario,
        src: SourceFile::new(format!("<faultline>/scenarios/{file}"), text),
    })
}

pub fn find(name: &str) -> Option<&'static Template> {
    builtin().iter().find(|t| t.name == name)
}

/// The names of every placeholder in `v`, in order of appearance.
fn placeholders(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                let Some(j) = rest[i..].find("}}") else { break };
                let name = rest[i + 2..i + j].trim().to_owned();
                if !out.contains(&name) {
                    out.push(name);
                }
                rest = &rest[i + j + 2..];
            }
        }
        Value::Array(a) => a.iter().for_each(|x| placeholders(x, out)),
        Value::Object(o) => o.values().for_each(|x| placeholders(x, out)),
        _ => {}
    }
}

/// `{{name}}` when `s` is exactly one placeholder.
fn whole(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{")).then(|| inner.trim())
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn fill(v: &Value, values: &BTreeMap<String, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = whole(s) {
                return values.get(name).cloned().unwrap_or(Value::Null);
            }
            let mut out = s.clone();
            for (k, x) in values {
                out = out.replace(&format!("{{{{{k}}}}}"), &as_text(x));
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, values)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, values))).filter(|(_, x)| !x.is_null()).collect())
        }
        other => other.clone(),
    }
}

impl Template {
    /// The parameters' values: `with` plus defaults. Unknown, missing and mistyped
    /// parameters are located in `user`.
    fn values(
        &self,
        user: &SourceFile,
        with: &BTreeMap<String, Value>,
        config: Option<&Config>,
    ) -> Result<BTreeMap<String, Value>, Vec<FileDiagnostic>> {
        let mut problems = Vec::new();
        let names: Vec<&str> = self.params.keys().map(String::as_str).collect();
        for k in with.keys().filter(|k| !self.params.contains_key(*k)) {
            let mut d = FileDiagnostic::at_key(
                user,
                &ypath!["with", k.as_str()],
                format!("`{k}` is not a parameter of `{}`", self.name),
            );
            d.help = Some(match nearest(k, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? parameters: {}", names.join(", ")),
                None => format!("parameters: {}", names.join(", ")),
            });
            problems.push(d);
        }
        let mut values = BTreeMap::new();
        for (name, p) in &self.params {
            let Some(v) = with.get(name).or(p.default.as_ref()) else {
                problems.push(
                    FileDiagnostic::at_key(
                        user,
                        &ypath!["with"],
                        format!("`{}` needs the parameter `{name}`: {}", self.name, p.doc),
                    )
                    .with_help(format!("add `{name}:` under `with:`")),
                );
                continue;
            };
            if with.contains_key(name)
                && let Err(e) = check_kind(p.kind, v, config)
            {
                let help = e.help();
                problems.push(
                    FileDiagnostic::at_value(user, &ypath!["with", name.as_str()], e.to_string()).with_help(help),
                );
                continue;
            }
            values.insert(name.clone(), v.clone());
        }
        if problems.is_empty() { Ok(values) } else { Err(problems) }
    }

    /// The service the template targets with `with`, for discovery (no type checks).
    pub(crate) fn target(&self, with: &BTreeMap<String, Value>) -> Option<String> {
        let mut values: BTreeMap<String, Value> =
            self.params.iter().filter_map(|(k, p)| Some((k.clone(), p.default.clone()?))).collect();
        values.extend(with.iter().map(|(k, v)| (k.clone(), v.clone())));
        fill(self.body.get("target")?, &values).as_str().map(str::to_owned)
    }
}

/// A parameter's value of the wrong kind, said at the value with its help.
#[derive(Debug, thiserror::Error)]
enum ParamError {
    #[error("expected {what}, found {found}")]
    Kind { what: &'static str, found: String, help: &'static str },
    #[error(transparent)]
    Duration(DurationError),
    /// A service the configuration does not have; the help names the nearest and all.
    #[error("`{name}` is not a service")]
    Service { name: String, help: String },
}

impl ParamError {
    fn help(&self) -> String {
        match self {
            ParamError::Kind { help, .. } => (*help).to_owned(),
            ParamError::Duration(_) => "e.g. `250ms`, `3s`, `1m`".into(),
            ParamError::Service { help, .. } => help.clone(),
        }
    }
}

/// Whether `v` is a value of `kind`.
fn check_kind(kind: ParamKind, v: &Value, config: Option<&Config>) -> Result<(), ParamError> {
    let fail = |what: &'static str, help: &'static str| Err(ParamError::Kind { what, found: short(v), help });
    match kind {
        ParamKind::Any => Ok(()),
        ParamKind::String => match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
            _ => fail("text", "write it as a string"),
        },
        ParamKind::Int => match v.as_u64() {
            Some(_) => Ok(()),
            None => fail("a whole number", "e.g. `3`"),
        },
        ParamKind::Duration => match v.as_str().map(|s| Dur::try_from(s.to_owned())) {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(ParamError::Duration(e)),
            None => fail("a duration", "e.g. `250ms`, `3s`, `1m`"),
        },
        ParamKind::Request => match v.as_str().map(|s| s.split_whitespace().count()) {
            Some(3) => Ok(()),
            _ => fail("`METHOD SERVICE PATH`", "e.g. `POST orders /orders`"),
        },
        ParamKind::Statuses => match v.as_array() {
            Some(a) if !a.is_empty() && a.iter().all(|s| s.as_u64().is_some_and(|s| (100..=599).contains(&s))) => {
                Ok(())
            }
            _ => fail("a list of HTTP statuses", "e.g. `[201, 503]`"),
        },
        ParamKind::Service => {
            let Some(name) = v.as_str() else { return fail("a service name", "") };
            let Some(config) = config else { return Ok(()) };
            if config.services.contains_key(name) {
                return Ok(());
            }
            let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
            Err(ParamError::Service {
                name: name.to_owned(),
                help: match nearest(name, names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? services: {}", names.join(", ")),
                    None => format!("services: {}", names.join(", ")),
                },
            })
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s }
}

/// `use: NAME` names no template.
pub(crate) fn unknown(user: &SourceFile, name: &str) -> FileDiagnostic {
    let names: Vec<&str> = builtin().iter().map(|t| t.name.as_str()).collect();
    FileDiagnostic::at_value(user, &ypath!["use"], format!("`{name}` is not a template")).with_help(
        match nearest(name, names.iter().copied()) {
            Some(n) => format!("did you mean `{n}`? templates: {}", names.join(", ")),
            None => format!("templates: {}", names.join(", ")),
        },
    )
}

/// A scenario file that uses a template, filled in: the template's faults, steps and checks,
/// then the file's own; the file's `name`, `target`, `why` over the template's.
pub(crate) fn expand(
    user: &SourceFile,
    file: ScenarioFile,
    config: &Config,
) -> Result<(ScenarioFile, Locator<'static>), ConfigError> {
    let name = file.uses.clone().unwrap_or_default();
    let Some(template) = find(&name) else {
        return Err(ConfigError::invalid(user, vec![unknown(user, &name)]));
    };
    let values = template.values(user, &file.with, Some(config)).map_err(|p| ConfigError::invalid(user, p))?;
    let filled = fill(&template.body, &values);
    let mut out: ScenarioFile = serde_json::from_value(filled).map_err(|e| {
        ConfigError::invalid(
            user,
            vec![FileDiagnostic::at_value(
                user,
                &ypath!["use"],
                format!("the template `{}` filled in is not a valid scenario: {e}", template.name),
            )],
        )
    })?;
    let kept = kept_checks(user, template, &out.checks, &file.drop_checks)?;
    out.checks = std::mem::take(&mut out.checks)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| kept.contains(i))
        .map(|(_, c)| c)
        .collect();
    let locator = Locator {
        template: Some(Using {
            template,
            lens: [out.faults.len(), out.steps.len(), out.checks.len()],
            kept_checks: kept,
            with: file.with.keys().cloned().collect(),
            own: [file.name.is_some(), file.target.is_some(), file.why.is_some()],
        }),
    };
    out.uses = None;
    out.with = BTreeMap::new();
    out.name = file.name.or(out.name);
    out.target = file.target.or(out.target);
    out.why = file.why.or(out.why);
    out.fresh |= file.fresh;
    out.faults.extend(file.faults);
    out.steps.extend(file.steps);
    out.checks.extend(file.checks);
    out.probes.extend(file.probes);
    Ok((out, locator))
}

/// The indexes of the template's checks that stay: those of a kind `drop` does not name.
/// Every name must be a kind of check the template has.
fn kept_checks(
    user: &SourceFile,
    template: &Template,
    checks: &[super::model::Check],
    drop: &[String],
) -> Result<Vec<usize>, ConfigError> {
    use super::check::{CHECK_KINDS, kind_of};
    let mut problems = Vec::new();
    for (j, kind) in drop.iter().enumerate() {
        let at = ypath!["drop_checks", j];
        if !CHECK_KINDS.contains(&kind.as_str()) {
            let help = match nearest(kind, CHECK_KINDS.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? kinds of check: {}", CHECK_KINDS.join(", ")),
                None => format!("kinds of check: {}", CHECK_KINDS.join(", ")),
            };
            problems
                .push(FileDiagnostic::at_value(user, &at, format!("`{kind}` is not a kind of check")).with_help(help));
        } else if !checks.iter().any(|c| kind_of(c) == Some(kind.as_str())) {
            let has: Vec<&str> = checks.iter().filter_map(kind_of).collect();
            problems.push(
                FileDiagnostic::at_value(
                    user,
                    &at,
                    format!("the template `{}` has no `{kind}` check to leave out", template.name),
                )
                .with_help(format!("its checks: {}", if has.is_empty() { "none".into() } else { has.join(", ") })),
            );
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::invalid(user, problems));
    }
    Ok((0..checks.len()).filter(|i| !kind_of(&checks[*i]).is_some_and(|k| drop.iter().any(|d| d == k))).collect())
}

/// Where a part of an expanded scenario came from: the user's file, a `with:` value, or the
/// template itself.
#[derive(Debug, Default)]
pub(crate) struct Locator<'t> {
    template: Option<Using<'t>>,
}

#[derive(Debug)]
struct Using<'t> {
    template: &'t Template,
    /// How many faults, steps and checks the template contributes (they come first).
    lens: [usize; 3],
    /// The indexes in the template of the checks it contributes (`drop_checks` left out
    /// the others).
    kept_checks: Vec<usize>,
    with: Vec<String>,
    /// Whether the user's file sets name, target, why.
    own: [bool; 3],
}

/// Where a path of the expanded scenario is written.
enum Origin<'a> {
    /// In the user's file, at this path.
    User(Vec<Seg>),
    /// In a template file, at this path.
    Template(&'a SourceFile, Vec<Seg>),
}

impl Locator<'_> {
    /// A diagnostic at the value of `path` of the expanded scenario, in the file it came from.
    pub(crate) fn at_value(&self, user: &SourceFile, path: &[Seg], message: impl Into<String>) -> FileDiagnostic {
        match self.origin(path) {
            Origin::User(p) => FileDiagnostic::at_value(user, &p, message),
            Origin::Template(src, p) => FileDiagnostic::at_value(src, &p, message),
        }
    }

    /// The 1-based line of `path` in the user's file (the `use:` line for a template's part).
    pub(crate) fn line(&self, user: &SourceFile, path: &[Seg]) -> usize {
        match self.origin(path) {
            Origin::User(p) => user.key_loc(&p).line,
            Origin::Template(..) => user.key_loc(&ypath!["use"]).line,
        }
    }

    fn origin(&self, path: &[Seg]) -> Origin<'_> {
        let Some(using) = &self.template else { return Origin::User(path.to_vec()) };
        let top = match path.first() {
            Some(Seg::Key(k)) => k.as_str(),
            _ => return Origin::User(path.to_vec()),
        };
        let lists = ["faults", "steps", "checks"];
        match (lists.iter().position(|k| *k == top), path.get(1)) {
            (Some(l), Some(Seg::Index(i))) if *i >= using.lens[l] => {
                let mut p = path.to_vec();
                p[1] = Seg::Index(i - using.lens[l]);
                return Origin::User(p);
            }
            (Some(_), Some(_)) => {}
            (Some(_), None) => return Origin::User(path.to_vec()),
            (None, _) => match ["name", "target", "why"].iter().position(|k| *k == top) {
                Some(i) if using.own[i] => return Origin::User(path.to_vec()),
                Some(_) => {}
                None => return Origin::User(path.to_vec()),
            },
        }
        // A check's index in the template, where some were left out.
        let mut path = path.to_vec();
        if top == "checks"
            && let Some(Seg::Index(i)) = path.get(1)
            && let Some(t) = using.kept_checks.get(*i)
        {
            path[1] = Seg::Index(*t);
        }
        let path = &path[..];
        // Walk the template's unfilled body; the first placeholder met is where the value
        // came from.
        let mut node = &using.template.body;
        for (depth, seg) in path.iter().enumerate() {
            if let Value::String(s) = node {
                return using.param_origin(s, &path[depth..]);
            }
            node = match (seg, node) {
                (Seg::Key(k), Value::Object(o)) => match o.get(k) {
                    Some(n) => n,
                    None => break,
                },
                (Seg::Index(i), Value::Array(a)) => match a.get(*i) {
                    Some(n) => n,
                    None => break,
                },
                _ => break,
            };
        }
        if let Value::String(s) = node
            && s.contains("{{")
        {
            return using.param_origin(s, &[]);
        }
        Origin::Template(&using.template.src, [&ypath!["scenario"][..], path].concat())
    }
}

impl Using<'_> {
    /// A value filled from a placeholder: the user's `with:` entry, or the default in the
    /// template.
    fn param_origin(&self, s: &str, rest: &[Seg]) -> Origin<'_> {
        let mut names = Vec::new();
        placeholders(&Value::String(s.to_owned()), &mut names);
        match names.iter().find(|n| self.with.contains(n)) {
            Some(n) => Origin::User([&ypath!["with"][..], &[Seg::Key(n.clone())], rest].concat()),
            None => {
                let n = names.first().cloned().unwrap_or_default();
                Origin::Template(
                    &self.template.src,
                    [&ypath!["params"][..], &[Seg::Key(n)], &ypath!["default"][..]].concat(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TemplateError;

    #[test]
    fn a_broken_template_says_which_parameter() {
        assert_eq!(TemplateError::Undeclared("x".into()).to_string(), "`{{x}}` is not a declared parameter");
        assert_eq!(TemplateError::Unused("x".into()).to_string(), "parameter `x` is never used");
    }
}
