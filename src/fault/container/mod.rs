//! Faults on a service's container, one file each behind [`ContainerFault`], listed once in
//! the table below ([`KINDS`]). A kind reads its key (`pause: true`) and names the engine
//! operation that starts it and the one that undoes it ([`ContainerOp`]), the same
//! apply/undo contract as a fault on an edge; the stack carries the operations out
//! (`Stack::container`), so this module needs no container engine.

pub(crate) mod disconnect;
pub(crate) mod kill;
pub(crate) mod pause;
pub(crate) mod stop;

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_yaml::Mapping;

use super::written::{self, Key, KeyTable, Written, WrittenError};

/// An operation of the container engine on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOp {
    /// Freeze its processes.
    Pause,
    Unpause,
    /// SIGKILL.
    Kill,
    /// SIGTERM, then SIGKILL after 10 s.
    Stop,
    /// Start it again, wait until its ports answer, re-point the proxies at them.
    Start,
    /// Cut it off its network (its published ports stop answering too).
    Disconnect,
    /// Back on its network, ports re-read as for `Start`.
    Reconnect,
}

/// One fault on a container: what starts it and what undoes it.
pub trait ContainerFault: fmt::Debug + Send + Sync {
    /// Its key: `pause`.
    fn name(&self) -> &'static str;
    fn apply(&self) -> ContainerOp;
    fn undo(&self) -> ContainerOp;
    /// Whether the service answers late, or not at all, while it is on (a guess of run
    /// time, not a promise).
    fn stalls(&self) -> bool {
        false
    }
    /// Whether undoing it starts the service again.
    fn restarts(&self) -> bool {
        false
    }
}

/// A kind's parameters as written (its fields are its keys, the one that names it first).
pub(crate) trait ContainerKind: for<'de> Deserialize<'de> + schemars::JsonSchema {
    /// The key that names it: `pause`.
    const NAME: &'static str;
    /// The fault, or none when the key says so (`pause: false`).
    fn fault(self) -> Option<Arc<dyn ContainerFault>>;
}

/// What a kind's key makes: the fault, or none (`pause: false`), or what is wrong.
type Parsed = Result<Option<Arc<dyn ContainerFault>>, WrittenError>;

/// A fault on a service that cannot be: no kind, several, or its key set to no fault.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ContainerFaultError {
    #[error("a fault on a service needs one of {}", KINDS.iter().map(|k| format!("`{}`", k.name)).collect::<Vec<_>>().join(", "))]
    NoKind,
    /// Several kinds, or one set to no fault (`pause: false`).
    #[error("one fault, one kind: write {} as separate faults", listing())]
    NotOne,
    #[error(transparent)]
    Keys(#[from] WrittenError),
}

/// A row of [`KINDS`]: how a kind's keys are read.
pub(crate) struct KindRow {
    pub name: &'static str,
    check: written::CheckFn,
    parse: fn(Mapping) -> Parsed,
    schema: fn(&mut schemars::SchemaGenerator) -> serde_json::Map<String, serde_json::Value>,
}

fn parse_as<K: ContainerKind>(m: Mapping) -> Parsed {
    Ok(written::read::<K>(m)?.fault())
}

/// The table of container fault kinds, in the order they are listed to people.
macro_rules! container_faults {
    ($($kind:ty,)*) => {
        /// Every kind of container fault.
        pub(crate) static KINDS: &[KindRow] = &[$(KindRow {
            name: <$kind as ContainerKind>::NAME,
            check: written::check_as::<$kind>,
            parse: parse_as::<$kind>,
            schema: written::schema_properties::<$kind>,
        },)*];
    };
}

container_faults! {
    pause::Pause,
    kill::Kill,
    stop::Stop,
    disconnect::Disconnect,
}

/// Every key of a container fault, each with the check of its value.
pub(crate) fn keys() -> &'static [Key] {
    &TABLE.keys
}

/// The names of [`keys`].
pub(crate) fn key_names() -> &'static [&'static str] {
    &TABLE.names
}

static TABLE: LazyLock<KeyTable> =
    LazyLock::new(|| KeyTable::new(KINDS.iter().map(|k| (std::slice::from_ref(&k.name), k.check))));

/// `pause, kill, stop and disconnect`.
pub(crate) fn listing() -> String {
    match key_names().split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The JSON Schema properties of every key of a container fault.
pub(crate) fn schema_properties(
    generator: &mut schemars::SchemaGenerator,
) -> serde_json::Map<String, serde_json::Value> {
    KINDS.iter().flat_map(|k| (k.schema)(generator)).collect()
}

/// The fault the keys describe: exactly one kind, set to a fault. Keys of other faults are
/// the caller's to judge.
pub(crate) fn from_written(w: &Written) -> Result<Arc<dyn ContainerFault>, ContainerFaultError> {
    let set: Vec<&KindRow> = KINDS.iter().filter(|k| w.has(k.name)).collect();
    let fault = match set.as_slice() {
        [] => return Err(ContainerFaultError::NoKind),
        [one] => (one.parse)(w.only(&[one.name]))?,
        _ => None,
    };
    fault.ok_or(ContainerFaultError::NotOne)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(yaml: &str) -> Written {
        Written(serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn one_kind_set_to_true_is_a_fault() {
        let f = from_written(&written("kill: true")).unwrap();
        assert_eq!(
            (f.name(), f.apply(), f.undo(), f.restarts()),
            ("kill", ContainerOp::Kill, ContainerOp::Start, true)
        );
        let err = |yaml| from_written(&written(yaml)).unwrap_err().to_string();
        assert!(err("pause: false").starts_with("one fault, one kind"));
        assert!(err("pause: true\nstop: true").starts_with("one fault, one kind"));
        assert!(err("{}").contains("needs one of `pause`, `kill`, `stop`, `disconnect`"));
        assert_eq!(listing(), "pause, kill, stop and disconnect");
    }
}
