//! Stage 2, impact: which services a change can hurt, and why, over the service graph.
//!
//! A changed path marks the service owning it; every service depending on that one,
//! transitively, is affected too; a global path affects everything. The stack is the forward
//! closure of the affected services (what must run for them to run), in start order.

use std::collections::VecDeque;

use serde::Serialize;

pub(crate) use crate::config::ServiceGraph;

use crate::change::{Change, RepoPath};
use crate::config::{FileDiagnostic, LoadedConfig};
use crate::dockerignore::DockerIgnore;
use crate::ypath;

/// Why a service is affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The service owns these changed paths.
    Owns { paths: Vec<RepoPath> },
    /// A `global` path changed.
    Global { path: RepoPath, glob: String },
    /// A path of the gate itself, or one that changes how everything builds, changed.
    Protected { path: RepoPath, glob: String },
    /// The service's build context or `prepare:` script changed.
    Builds { path: RepoPath, what: String },
    /// The build of `service` reads `path`, as `source` says: a glob of its `inputs`
    /// (`services.orders.inputs "docs/*.sql"`), or Cargo's dep-info of its build.
    ReadByBuild { path: RepoPath, service: String, source: String },
    /// The service depends on `chain[0]`, which depends on `chain[1]` … which owns `path`.
    DependsOn { chain: Vec<String>, path: RepoPath },
}

impl Reason {
    /// The reason as a sentence fragment: `depends on payments, which owns services/payments/x.rs`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Reason::Owns { paths } => match paths.len() {
                1 => format!("owns {}", paths[0]),
                n => format!("owns {} and {} more changed path{}", paths[0], n - 1, if n == 2 { "" } else { "s" }),
            },
            Reason::Global { path, glob } => format!("global path {path} (\"{glob}\") affects every service"),
            Reason::Protected { path, glob } => {
                format!("{path} (\"{glob}\") belongs to the gate or the build of everything: it affects every service")
            }
            Reason::Builds { path, what } => format!("{what} changed ({path})"),
            Reason::ReadByBuild { path, service, source } => {
                format!("{path} is read by the build of {service} ({source})")
            }
            Reason::DependsOn { chain, path } => {
                let mut s = String::new();
                for (i, svc) in chain.iter().enumerate() {
                    s.push_str(if i == 0 { "depends on " } else { ", which depends on " });
                    s.push_str(svc);
                }
                s.push_str(&format!(", which owns {path}"));
                s
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Affected {
    pub service: String,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct Impact {
    /// Affected services, sorted by name.
    pub affected: Vec<Affected>,
    /// Affected services and everything they depend on, in start order.
    pub stack: Vec<String>,
    /// The same services grouped into levels that can start together.
    pub levels: Vec<Vec<String>>,
    /// Changed paths that no service, `global`, tier glob or protected glob claims.
    pub unclaimed: Vec<RepoPath>,
    /// Changed paths that belong to the gate itself or change how everything builds.
    pub protected: Vec<RepoPath>,
}

impl Impact {
    pub(crate) fn is_affected(&self, service: &str) -> bool {
        // `affected` is sorted by name.
        self.affected.binary_search_by(|a| a.service.as_str().cmp(service)).is_ok()
    }
}

/// What the changed paths claim: their owners, build contexts and prepare scripts, global and
/// protected paths, and what nothing claims.
struct Claims {
    owned: Vec<Vec<RepoPath>>,
    /// Per service: a changed path of its build context or prepare script, and which.
    builds: Vec<Option<(RepoPath, String)>>,
    /// Per service: a changed path its build reads (`inputs`), and the glob.
    reads: Vec<Option<(RepoPath, String)>>,
    global: Option<(RepoPath, String)>,
    /// The first protected path that is not also global.
    protected_hit: Option<(RepoPath, String)>,
    unclaimed: Vec<RepoPath>,
    protected: Vec<RepoPath>,
    problems: Vec<FileDiagnostic>,
}

impl Claims {
    fn new(n: usize) -> Claims {
        Claims {
            owned: vec![Vec::new(); n],
            builds: vec![None; n],
            reads: vec![None; n],
            global: None,
            protected_hit: None,
            unclaimed: Vec::new(),
            protected: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records who claims `path`. A path claimed by two services' `paths` is a problem.
    fn add(
        &mut self,
        config: &LoadedConfig,
        ignores: &[(String, DockerIgnore)],
        path: &RepoPath,
        hits: &mut Vec<usize>,
    ) {
        let m = &config.matchers;
        let mut claimed = false;
        if let Some(&i) = m.global.matches(path.as_path()).first() {
            claimed = true;
            if self.global.is_none() {
                self.global = Some((path.clone(), m.global_globs[i].clone()));
            }
        }
        let is_global = claimed;
        if let Some(&i) = m.protected.matches(path.as_path()).first() {
            claimed = true;
            // A path that is global too is reported as global: the same effect, named by the user.
            if self.protected_hit.is_none() && !is_global {
                self.protected_hit = Some((path.clone(), m.protected_globs[i].clone()));
            }
            if self.protected.last() != Some(path) {
                self.protected.push(path.clone());
            }
        }
        claimed |= m.tiers.iter().any(|(set, _)| set.is_match(path.as_path()));
        m.owners.matches_into(path.as_path(), hits);
        let owner = hits.first().map(|&g| m.owner_of[g]);
        // A service owns its build context (what of it reaches the image: `.dockerignore`
        // applied as Docker applies it) and the files its `prepare:` names, shared or not (a
        // path its own `paths` claim already says so).
        for (dir, s) in &m.contexts {
            if (dir.is_empty() || path.starts_with_dir(dir)) && !ignored(ignores, dir, path) {
                claimed = true;
                if self.builds[*s].is_none() && owner != Some(*s) {
                    let shown = if dir.is_empty() { "." } else { dir.as_str() };
                    self.builds[*s] = Some((path.clone(), format!("its build context {shown}/")));
                }
            }
        }
        for (file, s) in &m.prepare_files {
            if path.as_bytes() == file.as_bytes() || path.starts_with_dir(file) {
                claimed = true;
                if self.builds[*s].is_none() && owner != Some(*s) {
                    self.builds[*s] = Some((path.clone(), "its prepare script".to_owned()));
                }
            }
        }
        for (file, s, what) in &m.build_files {
            if path.as_bytes() == file.as_bytes() {
                claimed = true;
                if self.builds[*s].is_none() && owner != Some(*s) {
                    self.builds[*s] = Some((path.clone(), (*what).to_owned()));
                }
            }
        }
        for (i, s) in m.inputs.matches(path.as_path()).into_iter().map(|i| (i, m.input_of[i])) {
            claimed = true;
            if self.reads[s].is_none() && owner != Some(s) {
                let source = format!("services.{}.inputs \"{}\"", m.service_names[s], m.input_glob[i]);
                self.reads[s] = Some((path.clone(), source));
            }
        }
        let Some(&first) = hits.first() else {
            if !claimed && self.unclaimed.last() != Some(path) {
                self.unclaimed.push(path.clone());
            }
            return;
        };
        let owner = m.owner_of[first];
        if let Some(&other) = hits.iter().find(|&&g| m.owner_of[g] != owner) {
            self.problems.push(overlap(config, path, first, other));
            return;
        }
        if self.owned[owner].last() != Some(path) {
            self.owned[owner].push(path.clone());
        }
    }
}

/// Computes the impact of `change`. A changed path claimed by two services is a
/// configuration mistake, reported at the second claim.
/// `ignores` are the `.dockerignore`s of the build contexts (by context directory, as in
/// `Matchers::contexts`), read from the code that is built.
pub(crate) fn analyze(
    change: &Change,
    config: &LoadedConfig,
    ignores: &[(String, DockerIgnore)],
) -> Result<Impact, Vec<FileDiagnostic>> {
    let graph = ServiceGraph::new(&config.config);
    let n = graph.len();
    let mut c = Claims::new(n);
    let mut hits = Vec::new();
    for path in change.paths.iter().flat_map(|p| p.touched()) {
        c.add(config, ignores, path, &mut hits);
    }
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let Claims { owned, builds, reads, global, protected_hit, unclaimed, protected, .. } = c;

    // Breadth-first over reverse dependencies from the owners: `via[s]` is the dependency
    // through which `s` was first reached, giving each service its shortest reason chain.
    let mut reached = vec![false; n];
    let mut via: Vec<Option<usize>> = vec![None; n];
    let mut queue: VecDeque<usize> =
        (0..n).filter(|&s| !owned[s].is_empty() || builds[s].is_some() || reads[s].is_some()).collect();
    for &s in &queue {
        reached[s] = true;
    }
    while let Some(s) = queue.pop_front() {
        for &r in graph.rdeps(s) {
            if !reached[r] {
                reached[r] = true;
                via[r] = Some(s);
                queue.push_back(r);
            }
        }
    }
    let chain_of = |mut s: usize| {
        let mut chain = vec![graph.name(s).to_owned()];
        while let Some(next) = via[s] {
            s = next;
            chain.push(graph.name(s).to_owned());
        }
        let path = owned[s]
            .first()
            .cloned()
            .or_else(|| builds[s].as_ref().map(|b| b.0.clone()))
            .or_else(|| reads[s].as_ref().map(|b| b.0.clone()))
            .unwrap_or_else(|| RepoPath::from(""));
        (chain, path)
    };

    let mut affected = Vec::new();
    let mut is_affected = vec![false; n];
    for s in 0..n {
        let mut reasons = Vec::new();
        if !owned[s].is_empty() {
            reasons.push(Reason::Owns { paths: owned[s].clone() });
        }
        if let Some((path, what)) = &builds[s] {
            reasons.push(Reason::Builds { path: path.clone(), what: what.clone() });
        }
        if let Some((path, source)) = &reads[s] {
            reasons.push(Reason::ReadByBuild {
                path: path.clone(),
                service: graph.name(s).to_owned(),
                source: source.clone(),
            });
        }
        for &d in graph.deps(s) {
            if reached[d] {
                let (chain, path) = chain_of(d);
                reasons.push(Reason::DependsOn { chain, path });
            }
        }
        if let Some((path, glob)) = &global {
            reasons.push(Reason::Global { path: path.clone(), glob: glob.clone() });
        }
        if let Some((path, glob)) = &protected_hit {
            reasons.push(Reason::Protected { path: path.clone(), glob: glob.clone() });
        }
        if !reasons.is_empty() {
            is_affected[s] = true;
            affected.push(Affected { service: graph.name(s).to_owned(), reasons });
        }
    }
    let levels = graph.start_levels(&graph.forward_closure(&is_affected));
    let stack = levels.iter().flatten().cloned().collect();
    Ok(Impact { affected, stack, levels, unclaimed, protected })
}

/// Whether the `.dockerignore` of the context `dir` leaves `path` (under it) out of the
/// context, so that it cannot reach the image.
fn ignored(ignores: &[(String, DockerIgnore)], dir: &str, path: &RepoPath) -> bool {
    let Some((_, ignore)) = ignores.iter().find(|(d, _)| d == dir) else { return false };
    let bytes = path.as_bytes();
    let rel = if dir.is_empty() { bytes } else { bytes.get(dir.len() + 1..).unwrap_or_default() };
    ignore.excludes(&String::from_utf8_lossy(rel))
}

fn overlap(config: &LoadedConfig, path: &RepoPath, a: usize, b: usize) -> FileDiagnostic {
    let m = &config.matchers;
    let (sa, sb) = (&m.service_names[m.owner_of[a]], &m.service_names[m.owner_of[b]]);
    let (ga, gb) = (&m.owner_glob[a], &m.owner_glob[b]);
    let idx = config.config.services[sb].paths.iter().position(|p| p == gb).unwrap_or(0);
    FileDiagnostic::at_value(
        &config.source,
        &ypath!["services", sb.as_str(), "paths", idx],
        format!("changed path {path} is claimed by two services: `{sa}` (\"{ga}\") and `{sb}` (\"{gb}\")"),
    )
    .with_label("overlapping claim")
    .with_help("every path belongs to at most one service; narrow one of the globs")
}
