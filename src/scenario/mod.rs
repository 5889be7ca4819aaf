//! Scenarios: the files seniors write. `discover` lists them with the two keys planning
//! needs (`name`, `target`); `model` is the full format and `validate` turns a file into a
//! [`Scenario`] the runner executes.

pub mod author;
pub(crate) mod check;
pub mod experiments;
pub(crate) mod model;
pub mod template;
pub mod validate;

pub use validate::{Scenario, parse};

use serde::{Deserialize, Serialize};

use crate::config::diagnostic::{listing, nearest};
use crate::config::{ConfigError, FileDiagnostic, LoadedConfig, SourceFile};
use crate::repo::{Repo, RepoError, Snapshot};
use crate::ypath;

/// The most faultline reads of one scenario file: a scenario is a page of YAML, and a bigger
/// file is refused before a parser sees it.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// A scenario file, known by name and target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ScenarioRef {
    pub name: String,
    pub target: String,
    /// Path relative to the repository root.
    pub file: String,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default, rename = "use")]
    uses: Option<String>,
    #[serde(default)]
    with: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DiscoverError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] ConfigError),
}

/// What scenario files' names end with.
pub const EXTENSIONS: &[&str] = &[".yaml", ".yml"];

/// Lists the scenarios among the files of the configured directory (`(path, bytes)`, sorted
/// by path, read once by the caller: the plan also digests them), sorted by name. A name
/// defaults to the file's stem. Unknown targets and duplicate names are errors.
pub fn discover_files(files: Vec<(String, Vec<u8>)>, config: &LoadedConfig) -> Result<Vec<ScenarioRef>, DiscoverError> {
    let services = &config.matchers.service_names;
    let mut out: Vec<ScenarioRef> = Vec::new();
    let mut problems = Vec::new();
    for (path, bytes) in files {
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(ConfigError::NotUtf8 { file: path }.into());
        };
        let src = SourceFile::new(path.clone(), text);
        if let Err(d) = src.check_nesting() {
            problems.push(*d);
            continue;
        }
        let header: Header = match serde_yaml::from_str(&src.text) {
            Ok(h) => h,
            Err(e) => {
                problems.push(FileDiagnostic::from_serde(&src, &e));
                continue;
            }
        };
        let template = header.uses.as_deref().map(|u| (u, template::find(u)));
        let target = match (header.target, template) {
            (Some(t), _) => t,
            (None, Some((_, Some(t)))) => t.target(&header.with).unwrap_or_default(),
            (None, Some((name, None))) => {
                problems.push(template::unknown(&src, name));
                continue;
            }
            (None, None) => {
                problems.push(
                    FileDiagnostic::at_key(&src, &[], "a scenario needs `target`, or `use:` a template that sets it")
                        .with_help("the service the scenario protects, e.g. `target: orders`"),
                );
                continue;
            }
        };
        if !services.contains(&target) {
            let mut d =
                FileDiagnostic::at_value(&src, &ypath!["target"], format!("target `{target}` is not a service"));
            d.help = Some(match nearest(&target, services.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`? services: {}", listing(services)),
                None => format!("services: {}", listing(services)),
            });
            problems.push(d);
            continue;
        }
        let stem =
            std::path::Path::new(&path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = header.name.unwrap_or(stem);
        if let Some(other) = out.iter().find(|s| s.name == name) {
            problems.push(
                FileDiagnostic::at_value(
                    &src,
                    &ypath!["name"],
                    format!("scenario name `{name}` is also used by {}", other.file),
                )
                .with_help("scenario names are how runs, reports and `--scenario` refer to them: make them unique"),
            );
            continue;
        }
        out.push(ScenarioRef { name, target, file: path });
    }
    if !problems.is_empty() {
        let file = format!("{}/", config.config.scenarios.trim_end_matches('/'));
        return Err(ConfigError::Invalid { file, problems: crate::config::capped(problems) }.into());
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A name given to `--scenario` that no scenario has.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "no scenario named `{name}`{} (scenarios: {scenarios})",
    .nearest.as_ref().map(|n| format!("; did you mean `{n}`?")).unwrap_or_default()
)]
#[diagnostic(code(faultline::scenario::unknown))]
pub struct UnknownScenario {
    pub name: String,
    /// The closest name, if one is close.
    pub nearest: Option<String>,
    /// The scenarios' names, listed for the message.
    pub scenarios: String,
}

/// The scenarios named in `wanted` (all when it is empty), or which name is unknown, with
/// the nearest one.
pub fn select<'a>(all: &'a [Scenario], wanted: &[String]) -> Result<Vec<&'a Scenario>, UnknownScenario> {
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    for w in wanted {
        if !names.contains(&w.as_str()) {
            return Err(UnknownScenario {
                name: w.clone(),
                nearest: nearest(w, names.iter().copied()).map(str::to_owned),
                scenarios: listing(&names),
            });
        }
    }
    Ok(all.iter().filter(|s| wanted.is_empty() || wanted.contains(&s.name)).collect())
}

/// The JSON Schema of scenario files.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(model::ScenarioFile)).unwrap_or_default()
}

/// Reads and validates every scenario of `snap`. All problems of all files are reported.
pub fn load_all(repo: &Repo, snap: &Snapshot, config: &LoadedConfig) -> Result<Vec<Scenario>, DiscoverError> {
    let (out, problems) = load_each(repo, snap, config)?;
    if !problems.is_empty() {
        return Err(invalid(config, problems).into());
    }
    Ok(out)
}

/// Every valid scenario of `snap`, sorted by name, and the problems of the files that are
/// not (for `run --scenario NAME`, which one broken file elsewhere need not stop).
pub fn load_each(
    repo: &Repo,
    snap: &Snapshot,
    config: &LoadedConfig,
) -> Result<(Vec<Scenario>, Vec<FileDiagnostic>), DiscoverError> {
    let files = repo.list(snap, &config.config.scenarios, EXTENSIONS, MAX_SCENARIO_BYTES)?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (path, bytes) in files {
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(ConfigError::NotUtf8 { file: path }.into());
        };
        match parse(&path, text, &config.config) {
            Ok(s) => out.push(s),
            Err(ConfigError::Invalid { problems: p, .. }) => problems.extend(p),
            Err(e) => return Err(e.into()),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, problems))
}

/// The problems of the scenarios directory, as one error.
pub fn invalid(config: &LoadedConfig, problems: Vec<FileDiagnostic>) -> ConfigError {
    ConfigError::Invalid {
        file: format!("{}/", config.config.scenarios.trim_end_matches('/')),
        problems: crate::config::capped(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::UnknownScenario;

    #[test]
    fn an_unknown_scenario_names_the_nearest_one() {
        let e = |nearest: Option<&str>| UnknownScenario {
            name: "slo".into(),
            nearest: nearest.map(str::to_owned),
            scenarios: "slow, down".into(),
        };
        assert_eq!(
            e(Some("slow")).to_string(),
            "no scenario named `slo`; did you mean `slow`? (scenarios: slow, down)"
        );
        assert_eq!(e(None).to_string(), "no scenario named `slo` (scenarios: slow, down)");
    }
}
