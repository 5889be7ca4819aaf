//! Keys as written, read one at a time and owned by kinds.
//!
//! A fault or a check is one flat mapping (`on: a -> b`, `latency: 3s`, `jitter: 100ms`)
//! whose keys belong to different kinds, each kind in a file of its own. serde's derive wants
//! every key in one struct; this reads the mapping key by key instead:
//!
//! - a key no kind owns is refused where it is written, with serde's own message (so the
//!   located "did you mean" of `FileDiagnostic::from_serde` works as for any struct);
//! - each value is type-checked as it is read, by the kind that owns the key, and a mistake
//!   is reported where serde would report it reading the kind's struct directly (a wrong
//!   type at the value, an unknown key inside it at that key, a conversion that failed,
//!   `3ss` as a duration, at the enclosing mapping);
//! - the values are kept, in order ([`Written`]), for the kind to read whole once the mapping
//!   is complete and the kind is known.
//!
//! Values are read back through YAML text, so a scalar means what it means in YAML: `404`
//! is a number to a number field and the text "404" to a text field, as with serde_yaml
//! reading the file directly.

use std::fmt;

use serde::de::value::{EnumAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde_yaml::{Mapping, Value};

/// Type-checks the value of one key, written alone: `(key, value, keys of its kind,
/// partial)`. `partial`: the value holds only part of what is written (one key of a mapping
/// inside it), so a missing field is no mistake. The error is serde_yaml's, path first.
pub(crate) type CheckFn = fn(&str, Value, &[&str], bool) -> Result<(), WrittenError>;

/// Written keys that do not read as a kind's parameters.
#[derive(Debug, thiserror::Error)]
pub enum WrittenError {
    /// serde_yaml's message, its path first when it has one (`slicer.delay: …`), without the
    /// position in the YAML text the keys were read back through.
    #[error("{}", without_position(.0))]
    Read(serde_yaml::Error),
    /// The keys could not be written as YAML text to be read back.
    #[error("{0}")]
    Write(serde_yaml::Error),
}

/// serde_yaml's message without ` at line … column …`: the line is of the text made from
/// the keys, not of any file.
fn without_position(e: &serde_yaml::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

/// One key some kind owns, with the check of its value.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    /// Every key of the kind that owns this one (for the check: alone, a key that tunes a
    /// kind, `jitter`, misses the key that names it, which is not a mistake in its value).
    pub kind_keys: &'static [&'static str],
    pub check: CheckFn,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The keys of a table of kinds and their names, in table order: a key two kinds read is
/// checked as the first reads it. Each table builds one, once (`LazyLock`).
pub(crate) struct KeyTable {
    pub keys: Vec<Key>,
    pub names: Vec<&'static str>,
}

impl KeyTable {
    /// From each kind's keys and the check of their values.
    pub(crate) fn new(rows: impl IntoIterator<Item = (&'static [&'static str], CheckFn)>) -> KeyTable {
        let mut keys: Vec<Key> = Vec::new();
        for (kind_keys, check) in rows {
            for name in kind_keys {
                if !keys.iter().any(|k| k.name == *name) {
                    keys.push(Key { name, kind_keys, check });
                }
            }
        }
        let names = keys.iter().map(|k| k.name).collect();
        KeyTable { keys, names }
    }
}

/// Reads `value` as the field `key` of `P`, alone (see [`CheckFn`]).
pub(crate) fn check_as<P: DeserializeOwned>(
    key: &str,
    value: Value,
    kind_keys: &[&str],
    partial: bool,
) -> Result<(), WrittenError> {
    let mut m = Mapping::new();
    m.insert(Value::String(key.to_owned()), value);
    let Err(e) = read::<P>(m) else { return Ok(()) };
    let msg = e.to_string();
    let tolerated = if partial {
        message_of(&msg).starts_with("missing field `")
    } else {
        kind_keys.iter().any(|k| *k != key && msg == format!("missing field `{k}`"))
    };
    if tolerated { Ok(()) } else { Err(e) }
}

/// Reads `P` from written keys, through YAML text (see the module docs). The error is
/// serde_yaml's message, its path first when it has one (`slicer.delay: …`), without the
/// position in that text.
pub(crate) fn read<P: DeserializeOwned>(m: Mapping) -> Result<P, WrittenError> {
    let text = serde_yaml::to_string(&Value::Mapping(m)).map_err(WrittenError::Write)?;
    serde_yaml::from_str(&text).map_err(WrittenError::Read)
}

/// The message of `path: message` (a path has no spaces).
fn message_of(e: &str) -> &str {
    e.split_once(": ").filter(|(path, _)| !path.contains(' ')).map_or(e, |(_, m)| m)
}

/// A problem found in a value, and where it is reported: `depth` 0 is the entry's mapping
/// (where serde reports a conversion that failed after the text was read, `3ss` as a
/// duration), 1 the key's value, 2 a value inside that, and so on.
struct Problem {
    depth: usize,
    msg: String,
}

/// Splits serde_yaml's `path: message` against the keys down to where the value is.
fn locate(msg: String, segs: &[String]) -> Problem {
    for n in (1..=segs.len()).rev() {
        let Some(rest) = msg.strip_prefix(segs[..n].join(".").as_str()) else { continue };
        if let Some(rest) = rest.strip_prefix(": ") {
            return Problem { depth: n, msg: rest.to_owned() };
        }
        if rest.starts_with(['.', '[']) {
            // Deeper than the reader went (an item of a list): reported at the list.
            return Problem { depth: n, msg: rest.trim_start_matches('.').to_owned() };
        }
    }
    Problem { depth: 0, msg }
}

/// serde's message for an unknown key, for a list of keys known only at run time.
pub(crate) fn unknown_key(key: &str, expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
    match quoted.as_slice() {
        [] => format!("unknown field `{key}`, there are no fields"),
        [one] => format!("unknown field `{key}`, expected {one}"),
        [a, b] => format!("unknown field `{key}`, expected {a} or {b}"),
        many => format!("unknown field `{key}`, expected one of {}", many.join(", ")),
    }
}

/// The keys of one entry beyond its own (`on`, `at`, …), in the order written, with their
/// values. A key written with no value (`latency: ~`) is no key, as for an optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written(pub Mapping);

impl Written {
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The keys, in the order written.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().filter_map(Value::as_str)
    }

    /// Only these keys.
    pub(crate) fn only(&self, keys: &[&str]) -> Mapping {
        let wanted = |k: &Value| k.as_str().is_some_and(|k| keys.contains(&k));
        self.0.iter().filter(|(k, _)| wanted(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Reads the value of `key` (one of `table`), checked by the kind that owns it.
    pub(crate) fn next_value<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: &'static str,
        table: &[Key],
    ) -> Result<(), A::Error> {
        let Some(k) = table.iter().find(|k| k.name == key) else {
            return Err(de::Error::custom(format!("no kind owns `{key}`")));
        };
        if self.has(key) {
            return Err(de::Error::duplicate_field(key));
        }
        let (value, problem) = map.next_value_seed(Checked { key: k, path: Vec::new() })?;
        if let Some(p) = problem {
            return Err(de::Error::custom(p.msg));
        }
        if !value.is_null() {
            self.0.insert(Value::String(key.to_owned()), value);
        }
        Ok(())
    }
}

/// Reads a key and refuses, where it is written, one that is not in `keys`.
pub(crate) struct KnownKey<'a>(pub &'a [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKey<'_> {
    type Value = &'static str;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KnownKey<'_> {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        self.0.iter().find(|k| **k == v).copied().ok_or_else(|| E::custom(unknown_key(v, self.0)))
    }
}

/// A value read as YAML and checked by its key's kind while the reader is at it (see the
/// module docs); a problem of an enclosing mapping is handed up to the level that reports it.
struct Checked<'a> {
    key: &'a Key,
    /// The keys inside the key's value down to this one.
    path: Vec<String>,
}

impl Checked<'_> {
    /// How deep this value is: 1 for the key's own value.
    fn depth(&self) -> usize {
        1 + self.path.len()
    }

    fn child(&self, key: &str) -> Checked<'_> {
        let mut path = self.path.clone();
        path.push(key.to_owned());
        Checked { key: self.key, path }
    }

    /// `v`, written at this place, alone, read as the kind reads it.
    fn check(&self, v: &Value) -> Result<(), Problem> {
        let mut nested = v.clone();
        for seg in self.path.iter().rev() {
            nested = Value::Mapping(Mapping::from_iter([(Value::String(seg.clone()), nested)]));
        }
        let partial = !self.path.is_empty();
        (self.key.check)(self.key.name, nested, self.key.kind_keys, partial).map_err(|e| {
            let segs: Vec<String> =
                std::iter::once(self.key.name.to_owned()).chain(self.path.iter().cloned()).collect();
            locate(e.to_string(), &segs)
        })
    }

    /// The value, once checked: a problem of this value is reported here, one of an
    /// enclosing mapping is handed up.
    fn judged<E: de::Error>(&self, v: Value) -> Result<(Value, Option<Problem>), E> {
        match self.check(&v) {
            Ok(()) => Ok((v, None)),
            Err(p) if p.depth >= self.depth() => Err(E::custom(p.msg)),
            Err(p) => Ok((v, Some(p))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = (Value, Option<Problem>);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = (Value, Option<Problem>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the value of `{}`", self.key.name)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.judged(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.judged(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.judged(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.judged(Value::Number(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.judged(Value::String(v.to_owned()))
    }

    /// A key's own value written empty is no key; inside a value, it is what it is.
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.path.is_empty() { Ok((Value::Null, None)) } else { self.judged(Value::Null) }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v = <Value as serde::Deserialize>::deserialize(SeqAccessDeserializer::new(seq))?;
        self.judged(v)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut m = Mapping::new();
        let mut handed_up = None;
        while let Some(k) = map.next_key_seed(InnerKey(&self))? {
            let (v, problem) = match k.as_str() {
                Some(name) => map.next_value_seed(self.child(name))?,
                None => (map.next_value()?, None),
            };
            match problem {
                Some(p) if p.depth >= self.depth() => return Err(de::Error::custom(p.msg)),
                Some(p) => handed_up = handed_up.or(Some(p)),
                None => {}
            }
            m.insert(k, v);
        }
        let (v, problem) = self.judged(Value::Mapping(m))?;
        Ok((v, handed_up.or(problem)))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let v = <Value as serde::Deserialize>::deserialize(EnumAccessDeserializer::new(data))?;
        self.judged(v)
    }
}

/// A key inside a checked value: one the kind does not know there is refused at the key.
struct InnerKey<'a, 'k>(&'a Checked<'k>);

impl<'de> DeserializeSeed<'de> for InnerKey<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InnerKey<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        // The key with no value: only whether the mapping at this place knows it.
        match self.0.child(v).check(&Value::Null) {
            Err(p) if p.msg.starts_with("unknown field `") => Err(E::custom(p.msg)),
            _ => Ok(Value::String(v.to_owned())),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// The properties of `P`'s schema, none required: the JSON Schema of one kind's keys, for
/// an entry whose keys come from several kinds.
pub(crate) fn schema_properties<P: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> serde_json::Map<String, serde_json::Value> {
    let schema = P::json_schema(generator);
    schema.get("properties").and_then(|p| p.as_object()).cloned().unwrap_or_default()
}

/// An object schema of these properties, `required` as given, no others allowed.
pub(crate) fn object_schema(
    description: &str,
    properties: serde_json::Map<String, serde_json::Value>,
    required: &[&str],
) -> schemars::Schema {
    let mut s = serde_json::json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        s["required"] = serde_json::json!(required);
    }
    schemars::Schema::try_from(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Latency {
        latency: crate::fault::spec::Dur,
        #[serde(default)]
        jitter: Option<crate::fault::spec::Dur>,
    }

    /// The check of `yaml` as the value of `key`: `None` when it reads, else the message.
    fn check(key: &str, yaml: &str) -> Option<String> {
        check_as::<Latency>(key, serde_yaml::from_str(yaml).unwrap(), &["latency", "jitter"], false)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn a_value_is_checked_alone_as_its_field() {
        assert_eq!(check("latency", "3s"), None);
        assert_eq!(check("jitter", "1s"), None, "the missing `latency` is not jitter's mistake");
        assert!(check("jitter", "3ss").unwrap().starts_with("`3ss` is not a duration"));
        assert_eq!(check("latency", "[1]").unwrap(), "latency: invalid type: sequence, expected a string");
    }

    #[test]
    fn a_problem_is_reported_as_deep_as_serde_would() {
        let segs = ["http".to_owned(), "drop".to_owned()];
        let p = locate("http.drop: unknown variant `x`".into(), &segs);
        assert_eq!((p.depth, p.msg.as_str()), (2, "unknown variant `x`"));
        let p = locate("http: `3ss` is not a duration".into(), &segs);
        assert_eq!((p.depth, p.msg.as_str()), (1, "`3ss` is not a duration"));
        assert_eq!(locate("`3ss` is not a duration".into(), &segs).depth, 0);
    }

    #[test]
    fn unknown_keys_read_as_serde_writes_them() {
        assert_eq!(unknown_key("x", &["a", "b", "c"]), "unknown field `x`, expected one of `a`, `b`, `c`");
        assert_eq!(unknown_key("x", &["a", "b"]), "unknown field `x`, expected `a` or `b`");
    }
}
