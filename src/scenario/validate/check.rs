//! The checks of a scenario: exactly one kind per check, `on` only where the kind takes
//! it, then the kind's own validation (each kind in its file of [`crate::scenario::check`]).

use super::{Validator, is_http_edge};
use crate::config::Seg;
use crate::scenario::check::{CHECK_KINDS, CheckKind, KINDS, kinds_set};
use crate::scenario::model::Check;
use crate::ypath;

/// The longest a `settled` check waits for the system to settle.
pub(crate) const MAX_SETTLE: std::time::Duration = std::time::Duration::from_secs(600);

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
        if c.settled && !kind.settles {
            let takers: Vec<String> = KINDS.iter().filter(|k| k.settles).map(|k| format!("`{}`", k.name)).collect();
            self.err(
                &[&path[..], &ypath!["settled"]].concat(),
                format!(
                    "`settled` goes with {} checks: the state they read may take a while to settle",
                    takers.join(" or ")
                ),
                Some(format!("a `{}` check is judged once, after the faults end", kind.name)),
            );
            return None;
        }
        if let Some(w) = c.within {
            let at = [&path[..], &ypath!["within"]].concat();
            if !c.settled {
                let help = "add `settled: true` for a check that must hold once the system has settled";
                self.err(&at, "`within` of a check goes with `settled: true`", Some(help.into()));
                return None;
            }
            if w.0.is_zero() || w.0 > MAX_SETTLE {
                let msg = format!(
                    "`within` is how long the system may take to settle: more than 0 and at most {}",
                    humantime::format_duration(MAX_SETTLE)
                );
                self.err(&at, msg, None);
                return None;
            }
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
