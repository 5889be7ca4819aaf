//! Risk tier: the most severe tier of any changed path, and the path and rule that decided it.

use serde::Serialize;

use super::{Change, RepoPath};
use crate::config::{CONFIG_FILE, LoadedConfig, Tier};

/// Why a path has its tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum TierRule {
    /// The path matched a glob of `policy.tiers.<tier>`.
    Glob { glob: String },
    /// The path is faultline.yaml: a change to the gate is high risk.
    Config,
    /// The path is in the scenarios directory.
    Scenarios { dir: String },
    /// The path matched a `global` glob.
    Global { glob: String },
    /// The path belongs to the gate or changes how everything builds (built-in or
    /// `policy.protected`).
    Protected { glob: String },
    /// The path is named by a service's `prepare:` command, which runs on the CI host.
    Prepare { service: String },
    /// No glob matched; `policy.default_tier` (or `medium`) applies.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TierDecision {
    pub tier: Tier,
    pub path: RepoPath,
    #[serde(flatten)]
    pub rule: TierRule,
}

impl TierDecision {
    /// One line for people: `services/payments/a.rs matches policy.tiers.high "services/payments/**"`.
    pub(crate) fn describe(&self) -> String {
        let p = &self.path;
        match &self.rule {
            TierRule::Glob { glob } => format!("{p} matches policy.tiers.{} \"{glob}\"", self.tier),
            TierRule::Config => format!("{p} is the gate's own configuration"),
            TierRule::Scenarios { dir } => format!("{p} is in the scenarios directory {dir}/"),
            TierRule::Global { glob } => format!("{p} matches global \"{glob}\""),
            TierRule::Prepare { service } => {
                format!("{p} is run by the `prepare:` of {service}, on the CI host")
            }
            TierRule::Protected { glob } => {
                format!("{p} matches \"{glob}\": it belongs to the gate or changes how everything builds")
            }
            TierRule::Default => format!("{p} matches no tier glob; the default tier is {}", self.tier),
        }
    }
}

/// The tier of one path.
pub(crate) fn path_tier(config: &LoadedConfig, path: &RepoPath) -> (Tier, TierRule) {
    let m = &config.matchers;
    if path.as_bytes() == CONFIG_FILE.as_bytes() {
        return (Tier::High, TierRule::Config);
    }
    if path.starts_with_dir(&config.config.scenarios) {
        return (Tier::High, TierRule::Scenarios { dir: config.config.scenarios.trim_end_matches('/').to_owned() });
    }
    if let Some(&i) = m.global.matches(path.as_path()).first() {
        return (Tier::High, TierRule::Global { glob: m.global_globs[i].clone() });
    }
    if let Some(&i) = m.protected.matches(path.as_path()).first() {
        return (Tier::High, TierRule::Protected { glob: m.protected_globs[i].clone() });
    }
    if let Some((_, s)) =
        m.prepare_files.iter().find(|(f, _)| path.as_bytes() == f.as_bytes() || path.starts_with_dir(f))
    {
        return (Tier::High, TierRule::Prepare { service: m.service_names[*s].clone() });
    }
    for (tier, (set, globs)) in Tier::ALL_SEVERE_FIRST.iter().zip(&m.tiers) {
        if let Some(&i) = set.matches(path.as_path()).first() {
            return (*tier, TierRule::Glob { glob: globs[i].clone() });
        }
    }
    (config.config.policy.default_tier.unwrap_or(Tier::Medium), TierRule::Default)
}

/// The change's tier: the most severe of its paths (the first such path decides). `None`
/// when nothing changed.
pub(crate) fn decide(change: &Change, config: &LoadedConfig) -> Option<TierDecision> {
    let mut best: Option<TierDecision> = None;
    for path in change.paths.iter().flat_map(|p| p.touched()) {
        let (tier, rule) = path_tier(config, path);
        if best.as_ref().is_none_or(|b| tier > b.tier) {
            best = Some(TierDecision { tier, path: path.clone(), rule });
            if tier == Tier::High {
                break;
            }
        }
    }
    best
}
