//! The service graph as indices: dependencies, reverse dependencies, closures, start levels.

use std::collections::BTreeMap;

use super::Config;
use super::diagnostic::{listing, nearest};

/// A name given as a service that faultline.yaml does not declare.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "`{name}` is not a service of faultline.yaml{} (services: {services})",
    .nearest.as_ref().map(|n| format!("; did you mean `{n}`?")).unwrap_or_default()
)]
#[diagnostic(code(faultline::config::unknown_service))]
pub struct UnknownService {
    pub name: String,
    /// The closest declared name, if one is close.
    pub nearest: Option<String>,
    /// The declared services, listed for the message.
    pub services: String,
}

pub struct ServiceGraph {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    rdeps: Vec<Vec<usize>>,
}

impl ServiceGraph {
    /// Builds the graph of a validated configuration (unknown dependencies are ignored).
    pub fn new(config: &Config) -> ServiceGraph {
        let names: Vec<String> = config.services.keys().cloned().collect();
        let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let deps: Vec<Vec<usize>> = config
            .services
            .values()
            .map(|s| s.depends_on.keys().filter_map(|d| index.get(d.as_str()).copied()).collect())
            .collect();
        let mut rdeps = vec![Vec::new(); names.len()];
        for (s, ds) in deps.iter().enumerate() {
            for &d in ds {
                rdeps[d].push(s);
            }
        }
        ServiceGraph { names, deps, rdeps }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    pub(crate) fn deps(&self, i: usize) -> &[usize] {
        &self.deps[i]
    }

    pub(crate) fn rdeps(&self, i: usize) -> &[usize] {
        &self.rdeps[i]
    }

    /// The marked services plus everything they depend on, transitively.
    pub(crate) fn forward_closure(&self, marked: &[bool]) -> Vec<bool> {
        let mut out = marked.to_vec();
        let mut stack: Vec<usize> = (0..self.len()).filter(|&i| marked[i]).collect();
        while let Some(s) = stack.pop() {
            for &d in &self.deps[s] {
                if !out[d] {
                    out[d] = true;
                    stack.push(d);
                }
            }
        }
        out
    }

    /// The selected services grouped into start levels: level 0 depends on nothing, level k
    /// only on lower levels. Names are sorted within a level. The graph must be acyclic.
    pub fn start_levels(&self, selected: &[bool]) -> Vec<Vec<String>> {
        let mut level: Vec<Option<usize>> = vec![None; self.len()];
        let mut visiting = vec![false; self.len()];
        let mut levels: Vec<Vec<String>> = Vec::new();
        for (s, _) in selected.iter().enumerate().filter(|(_, on)| **on) {
            let l = self.level_of(s, &mut level, &mut visiting);
            if levels.len() <= l {
                levels.resize(l + 1, Vec::new());
            }
            levels[l].push(self.names[s].clone());
        }
        // Names are visited in sorted order, so every level is sorted already.
        levels
    }

    fn level_of(&self, s: usize, memo: &mut [Option<usize>], visiting: &mut [bool]) -> usize {
        if let Some(l) = memo[s] {
            return l;
        }
        // Iterative post-order so a deep chain cannot overflow the stack.
        // `visiting` guards against a cycle, which validation rejects before this runs.
        let mut stack = vec![(s, 0usize)];
        visiting[s] = true;
        while let Some((node, pos)) = stack.pop() {
            if let Some(&d) = self.deps[node].get(pos) {
                stack.push((node, pos + 1));
                if memo[d].is_none() && !visiting[d] {
                    visiting[d] = true;
                    stack.push((d, 0));
                }
            } else {
                visiting[node] = false;
                let l = self.deps[node].iter().map(|&d| memo[d].map_or(0, |x| x + 1)).max().unwrap_or(0);
                memo[node] = Some(l);
            }
        }
        memo[s].unwrap_or(0)
    }

    /// The start levels of `services` (all when empty) and what they depend on, or which name
    /// is not a service, with the nearest one.
    pub fn levels_for(&self, services: &[String]) -> Result<Vec<Vec<String>>, UnknownService> {
        let mut wanted = vec![services.is_empty(); self.len()];
        for s in services {
            let Some(i) = self.index(s) else {
                let names: Vec<&str> = (0..self.len()).map(|i| self.name(i)).collect();
                return Err(UnknownService {
                    name: s.clone(),
                    nearest: nearest(s, names.iter().copied()).map(str::to_owned),
                    services: listing(&names),
                });
            };
            wanted[i] = true;
        }
        Ok(self.start_levels(&self.forward_closure(&wanted)))
    }
}

#[cfg(test)]
mod tests {
    use super::UnknownService;

    #[test]
    fn an_unknown_service_names_the_nearest_one() {
        let e = |nearest: Option<&str>| UnknownService {
            name: "ordres".into(),
            nearest: nearest.map(str::to_owned),
            services: "orders, payments".into(),
        };
        assert_eq!(
            e(Some("orders")).to_string(),
            "`ordres` is not a service of faultline.yaml; did you mean `orders`? (services: orders, payments)"
        );
        assert_eq!(e(None).to_string(), "`ordres` is not a service of faultline.yaml (services: orders, payments)");
    }
}
