//! The checks of a scenario: exactly one kind per check, `on` only where the kind takes
//! it, then the kind's own validation (each kind in its file of [`crate::scenario::check`]).

use super::{Validator, is_http_edge};
use crate::config::Seg;
use crate::scenario::check::{CHECK_KINDS, CheckKind, KINDS, kinds_set};
use crate::scenario::model::Check;
use crate::ypath;

impl Validator<'_> {
    pub(super) fn check(&mut self, i: usize, c: &Check) -> Option<CheckKind> {
        let path = ypath!["checks", i];
        let kind = match kinds_set(c).as_slice() {
            [one] => *one,
            kinds => {
                let names: Vec<String> = CHECK_KINDS.iter().map(|k| format!("`{k}`")).collect();
                let msg = format!("a check needs exactly one of {} ({} given)", names.join(", "), kinds.len());
                self.err(&path, msg, None);
                return None;
            }
        };
        if c.on.is_some() && !kind.on {
            let takers: Vec<String> = KINDS.iter().filter(|k| k.on).map(|k| format!("`{}`", k.name)).collect();
            self.err(&[&path[..], &ypath!["on"]].concat(), format!("`on` goes with {}", takers.join(" or ")), None);
            return None;
        }
        (kind.validate)(self, c, &path)
    }

    /// The edge of a check that counts requests on it (`key`): `on`, an HTTP edge of the
    /// stack.
    pub(crate) fn counted_edge(&mut self, path: &[Seg], key: &str, on: Option<&str>) -> Option<(String, String)> {
        let Some(on) = on else {
            self.err(path, format!("`{key}` needs `on: CLIENT -> DEPENDENCY`"), None);
            return None;
        };
        let (from, to) = self.edge(&[path, &ypath!["on"]].concat(), on)?;
        if !is_http_edge(self.config, &from, &to) {
            self.err(path, format!("requests are counted on HTTP edges, and `{from} -> {to}` is not one"), None);
            return None;
        }
        Some((from, to))
    }
}
