//! `faultline.yaml`: the data model, loading with located diagnostics, validation of the
//! service graph, and the compiled matchers later stages use.

pub(crate) mod diagnostic;
pub mod files;
pub(crate) mod glob;
mod graph;
pub(crate) mod model;
pub(crate) mod source;
pub mod truth;
mod validate;

use std::sync::Arc;

use globset::GlobSet;
use miette::Diagnostic;
use regex::Regex;

pub use diagnostic::FileDiagnostic;
pub use graph::ServiceGraph;
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
    #[error("no {CONFIG_FILE} in {place} (a pull request that adds one passes with `faultline gate --adopting`)")]
    #[diagnostic(
        code(faultline::config::missing),
        help(
            "create {CONFIG_FILE} at the repository root (see the README for a complete example), \
             commit it to the base branch, and run again; the gate reads its configuration from the \
             base revision, so that a change cannot weaken the gate that judges it. To try a \
             configuration you have not committed yet, pass --config-from worktree (plan) or run \
             `faultline run`; the pull request that adds it passes with `gate --adopting`."
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

/// The most problems one error lists; the rest are counted. Nobody fixes the 13,000th
/// problem of a file first, and every listed one is rendered with a snippet of its file.
pub(crate) const MAX_PROBLEMS: usize = 50;

impl ConfigError {
    pub(crate) fn invalid(file: &SourceFile, problems: Vec<FileDiagnostic>) -> Self {
        ConfigError::Invalid { file: file.name.clone(), problems: capped(problems) }
    }
}

/// `problems` cut to [`MAX_PROBLEMS`], the last saying how many more there are.
pub(crate) fn capped(mut problems: Vec<FileDiagnostic>) -> Vec<FileDiagnostic> {
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        if let Some(last) = problems.last_mut() {
            last.message.push_str(&format!("; and {more} more problems after this one (fix these first)"));
        }
    }
    problems
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
    /// `policy.ai_assisted.trailers`, the key part matched without regard to case (as git
    /// reads trailer keys).
    pub ai_trailers: Vec<Regex>,
    pub ai_authors: Vec<Regex>,
    pub ai_markers: Vec<Regex>,
    /// Every `services.*.inputs` glob; `input_of[i]` is the service index of glob `i`.
    pub inputs: GlobSet,
    pub input_of: Vec<usize>,
    pub input_glob: Vec<String>,
    /// Build contexts (`services.*.build`) as directories, with the index of their service.
    pub contexts: Vec<(String, usize)>,
    /// Files a service's `prepare:` command names (`./build.sh` → `build.sh`), with the
    /// index of their service.
    pub prepare_files: Vec<(String, usize)>,
    /// Files outside the build context that make what a service runs: its `dockerfile` and
    /// the `template`s of its `files`, with the index of their service and what they are.
    pub build_files: Vec<(String, usize, &'static str)>,
    /// The gate's own files and the files that change how everything builds: the built-in
    /// ones and `policy.protected`.
    pub protected: GlobSet,
    pub protected_globs: Vec<String>,
}

/// Paths that belong to the gate or change how every service builds, whatever the policy
/// says: a change to them is high tier, affects everything and needs a senior's sign-off.
/// (faultline.yaml and the scenarios directory are added from the configuration.)
pub(crate) const BUILTIN_PROTECTED: &[&str] = &[
    ".cargo/**",
    "**/.cargo/**",
    "rust-toolchain",
    "rust-toolchain.toml",
    "Cargo.lock",
    "Cargo.toml",
    ".github/workflows/**",
    ".github/actions/**",
    ".gitlab-ci.yml",
    ".ci/**",
    ".gitmodules",
    ".tool-versions",
    ".npmrc",
    ".yarnrc.yml",
    ".python-version",
    "go.work",
    ".faultline/**",
];

/// The most faultline reads of faultline.yaml: a configuration is a few kilobytes, and a
/// bigger file is refused before a parser sees it.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The most faultline reads of a CODEOWNERS file: GitHub's own limit ("CODEOWNERS files must
/// be under 3 MB in size"; a bigger one it does not load), read as 3,000,000 bytes.
pub(crate) const MAX_CODEOWNERS_BYTES: u64 = 3_000_000;

/// Where GitHub and GitLab look for CODEOWNERS (each host's order is
/// `plan::CodeHost::codeowners_paths`). They say who may approve (`policy.codeowners`), so
/// they are protected too.
pub(crate) const CODEOWNERS_PATHS: &[&str] =
    &[".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"];

/// A trailer pattern `Key: …` with its key matched without regard to case, as git does.
pub(crate) fn trailer_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let (anchor, rest) = pattern.strip_prefix('^').map_or(("", pattern), |r| ("^", r));
    let key_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
    if key_len > 0 && rest[key_len..].trim_start().starts_with(':') {
        Regex::new(&format!("{anchor}(?i:{}){}", &rest[..key_len], &rest[key_len..]))
    } else {
        Regex::new(pattern)
    }
}

/// The repository files a `prepare:` command names: words that look like relative paths
/// (`./build.sh`, `scripts/build`, `make.sh`), `./` removed. Options, variables,
/// assignments and absolute paths are not files of the repository.
pub(crate) fn prepare_files(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in command.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>')) {
        let w = word.trim_matches(|c| c == '"' || c == '\'');
        if w.is_empty()
            || w.starts_with('-')
            || w.starts_with('/')
            || w.starts_with('~')
            || w.contains(['$', '=', '*', '`'])
            || !(w.contains('/') || w.contains('.'))
        {
            continue;
        }
        let mut rel = w;
        while let Some(r) = rel.strip_prefix("./") {
            rel = r;
        }
        let rel = rel.trim_end_matches('/');
        if rel.is_empty() || rel == "." || rel.split('/').any(|s| s == "..") {
            continue;
        }
        if !out.iter().any(|o| o == rel) {
            out.push(rel.to_owned());
        }
    }
    out
}

/// Parses and validates `text` as `faultline.yaml`. Reports every problem at once.
pub fn parse(source: SourceFile, origin: ConfigOrigin) -> Result<LoadedConfig, ConfigError> {
    let t = std::time::Instant::now();
    source.check_nesting().map_err(|d| ConfigError::invalid(&source, vec![*d]))?;
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
        let (mut input_of, mut input_glob) = (Vec::new(), Vec::new());
        for (i, svc) in config.services.values().enumerate() {
            for p in &svc.inputs {
                input_of.push(i);
                input_glob.push(p.clone());
            }
        }
        let tiers = Tier::ALL_SEVERE_FIRST.map(|t| {
            let globs = config.policy.tiers.get(t).to_vec();
            (glob::set(globs.iter().map(String::as_str)), globs)
        });
        let res = |v: &[String]| v.iter().filter_map(|r| Regex::new(r).ok()).collect();
        let mut contexts = Vec::new();
        let mut prepare = Vec::new();
        let mut build_files = Vec::new();
        for (i, svc) in config.services.values().enumerate() {
            if let Some(ctx) = &svc.build {
                let dir = ctx.trim_start_matches("./").trim_end_matches('/');
                contexts.push((if dir == "." { String::new() } else { dir.to_owned() }, i));
            }
            if let Some(cmd) = &svc.prepare {
                prepare.extend(prepare_files(cmd).into_iter().map(|f| (f, i)));
            }
            let clean = |p: &str| p.trim_start_matches("./").to_owned();
            if let Some(d) = &svc.dockerfile {
                build_files.push((clean(d), i, "its Dockerfile"));
            }
            for f in svc.files.values() {
                if let Some(t) = &f.template {
                    build_files.push((clean(t), i, "the template of a file rendered into it"));
                }
            }
        }
        let mut protected_globs: Vec<String> = vec![CONFIG_FILE.to_owned()];
        protected_globs.push(format!("{}/**", config.scenarios.trim_end_matches('/')));
        protected_globs.extend(BUILTIN_PROTECTED.iter().chain(CODEOWNERS_PATHS).map(|s| (*s).to_owned()));
        protected_globs.extend(config.policy.protected.iter().cloned());
        Matchers {
            ai_markers: res(&config.policy.ai_assisted.markers),
            contexts,
            prepare_files: prepare,
            build_files,
            protected: glob::set(protected_globs.iter().map(String::as_str)),
            protected_globs,
            owners,
            owner_of,
            inputs: glob::set(input_glob.iter().map(String::as_str)),
            input_of,
            input_glob,
            owner_glob,
            service_names,
            global: glob::set(config.global.iter().map(String::as_str)),
            global_globs: config.global.clone(),
            tiers,
            ai_trailers: config.policy.ai_assisted.trailers.iter().filter_map(|r| trailer_regex(r).ok()).collect(),
            ai_authors: res(&config.policy.ai_assisted.authors),
        }
    }
}

/// The JSON Schema of `faultline.yaml`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}
