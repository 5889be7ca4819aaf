//! `faultline.yaml`: the data model, loading with located diagnostics, validation of the
//! service graph, and the compiled matchers later stages use.

pub mod diagnostic;
pub mod glob;
pub mod model;
pub mod source;
mod validate;

use std::sync::Arc;

use globset::GlobSet;
use miette::Diagnostic;
use regex::Regex;

pub use diagnostic::FileDiagnostic;
pub use model::*;
pub use source::{Seg, SourceFile};

/// The file name faultline reads at the repository root.
pub const CONFIG_FILE: &str = "faultline.yaml";

/// Where the configuration was read from; printed with every plan so nobody wonders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum ConfigOrigin {
    /// `REV:faultline.yaml`, as the gate reads it.
    Revision { rev: String, commit: String },
    /// The file on disk (`--config-from worktree`), for authoring.
    Worktree { path: String },
}

impl std::fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigOrigin::Revision { rev, commit } => {
                write!(f, "{CONFIG_FILE} at base {rev} ({})", &commit[..commit.len().min(10)])
            }
            ConfigOrigin::Worktree { path } => write!(f, "{path} from the working tree (--config-from worktree)"),
        }
    }
}

/// Everything that can go wrong reading `faultline.yaml`.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    #[error("no {CONFIG_FILE} in {place}")]
    #[diagnostic(
        code(faultline::config::missing),
        help(
            "create {CONFIG_FILE} at the repository root (see the README for a complete example), \
             commit it to the base branch, and run again; the gate reads its configuration from the \
             base revision, so that a change cannot weaken the gate that judges it. To try a \
             configuration you have not committed yet, pass --config-from worktree."
        )
    )]
    Missing { place: String },

    #[error("{file} is not valid UTF-8")]
    #[diagnostic(code(faultline::config::encoding))]
    NotUtf8 { file: String },

    #[error("cannot read {file}: {source}")]
    #[diagnostic(code(faultline::config::io))]
    Io { file: String, source: std::io::Error },

    #[error("{file}: {} problem{}", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(faultline::config::invalid))]
    Invalid {
        file: String,
        #[related]
        problems: Vec<FileDiagnostic>,
    },
}

impl ConfigError {
    pub fn invalid(file: &SourceFile, problems: Vec<FileDiagnostic>) -> Self {
        ConfigError::Invalid { file: file.name.clone(), problems }
    }
}

/// A validated configuration, with its source and compiled matchers.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: SourceFile,
    pub origin: ConfigOrigin,
    pub matchers: Arc<Matchers>,
}

/// Globs and regexes compiled once, for every stage that matches paths or commits.
#[derive(Debug)]
pub struct Matchers {
    /// Every `services.*.paths` glob; `owner_of[i]` is the service index of glob `i`.
    pub owners: GlobSet,
    pub owner_of: Vec<usize>,
    pub owner_glob: Vec<String>,
    /// Service names in `config.services` order (sorted).
    pub service_names: Vec<String>,
    pub global: GlobSet,
    pub global_globs: Vec<String>,
    /// `tiers[0]` high, `[1]` medium, `[2]` low, as in [`Tier::ALL_SEVERE_FIRST`].
    pub tiers: [(GlobSet, Vec<String>); 3],
    pub ai_trailers: Vec<Regex>,
    pub ai_authors: Vec<Regex>,
}

/// Parses and validates `text` as `faultline.yaml`. Reports every problem at once.
pub fn parse(source: SourceFile, origin: ConfigOrigin) -> Result<LoadedConfig, ConfigError> {
    let t = std::time::Instant::now();
    let config: Config = match serde_yaml::from_str(&source.text) {
        Ok(c) => c,
        Err(e) => {
            let d = FileDiagnostic::from_serde(&source, &e);
            return Err(ConfigError::invalid(&source, vec![d]));
        }
    };
    tracing::trace!(elapsed = ?t.elapsed(), "parsed");
    let problems = validate::validate(&config, &source);
    tracing::trace!(elapsed = ?t.elapsed(), "validated");
    if !problems.is_empty() {
        return Err(ConfigError::invalid(&source, problems));
    }
    let matchers = Arc::new(Matchers::compile(&config));
    tracing::trace!(elapsed = ?t.elapsed(), "matchers compiled");
    Ok(LoadedConfig { config, source, origin, matchers })
}

/// Parses `bytes` read from `name`, checking the encoding first.
pub fn parse_bytes(name: &str, bytes: Vec<u8>, origin: ConfigOrigin) -> Result<LoadedConfig, ConfigError> {
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 { file: name.to_owned() })?;
    parse(SourceFile::new(name, text), origin)
}

impl Matchers {
    fn compile(config: &Config) -> Matchers {
        let service_names: Vec<String> = config.services.keys().cloned().collect();
        let mut owner_of = Vec::new();
        let mut owner_glob = Vec::new();
        for (i, svc) in config.services.values().enumerate() {
            for p in &svc.paths {
                owner_of.push(i);
                owner_glob.push(p.clone());
            }
        }
        let owners = glob::set(owner_glob.iter().map(String::as_str));
        let tiers = Tier::ALL_SEVERE_FIRST.map(|t| {
            let globs = config.policy.tiers.get(t).to_vec();
            (glob::set(globs.iter().map(String::as_str)), globs)
        });
        let res = |v: &[String]| v.iter().filter_map(|r| Regex::new(r).ok()).collect();
        Matchers {
            owners,
            owner_of,
            owner_glob,
            service_names,
            global: glob::set(config.global.iter().map(String::as_str)),
            global_globs: config.global.clone(),
            tiers,
            ai_trailers: res(&config.policy.ai_assisted.trailers),
            ai_authors: res(&config.policy.ai_assisted.authors),
        }
    }
}

/// The JSON Schema of `faultline.yaml`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}
