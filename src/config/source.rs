//! A YAML file as the user wrote it, with the location of every key and value.
//!
//! serde_yaml locates syntax and type errors itself, but not the semantic ones found after
//! deserialising (an unknown dependency, a cycle, a glob that does not compile). For those
//! the text is walked once more with `saphyr-parser`, an event parser that carries spans,
//! and every node is indexed by its key path (`services.orders.depends_on.payments`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use saphyr_parser::{Event, Parser, Span};

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// Builds a key path: `ypath!["services", name, "depends_on"]`.
#[macro_export]
macro_rules! ypath {
    ($($seg:expr),* $(,)?) => { [$($crate::config::source::Seg::from($seg)),*] };
}

/// Where a node is: byte offsets into the source, and 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy)]
struct NodeLoc {
    key: Option<Loc>,
    value: Loc,
}

/// A source file with its display name and an index of node locations.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How the file is named in messages: `faultline.yaml` or `faultline.yaml@origin/main`.
    pub name: String,
    pub text: Arc<str>,
    /// Built on the first lookup: only a file with a problem pays for it.
    index: OnceLock<HashMap<Vec<Seg>, NodeLoc>>,
    /// Byte offset at the start of each line.
    line_starts: Vec<usize>,
    /// Every character is one byte: a column is a byte count, found in constant time.
    ascii: bool,
}

/// The deepest nesting a configuration or scenario file may have (serde's own limit is 128).
pub(crate) const MAX_NESTING: usize = 100;

/// Nodes nested deeper than this are not indexed (serde rejects them long before): a path
/// is copied per node, so indexing a pathological nesting would take quadratic time.
const MAX_INDEX_DEPTH: usize = 256;

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = text.is_ascii();
        SourceFile { name: name.into(), text, index: OnceLock::new(), line_starts, ascii }
    }

    /// Refuses a document nested deeper than [`MAX_NESTING`] before any other parser sees it:
    /// YAML scanners check every open level at every token, so a pathological nesting costs
    /// quadratic time (50,000 levels: seconds). The scan stops at the first level too deep.
    pub(crate) fn check_nesting(&self) -> Result<(), Box<super::FileDiagnostic>> {
        if let Some(offset) = flow_too_deep(self.text.as_bytes()) {
            let line = self.text[..offset].matches('\n').count() + 1;
            let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let column = self.text[line_start..offset].chars().count() + 1;
            return Err(Box::new(
                super::FileDiagnostic::at(
                    self,
                    Loc { offset, len: 1, line, column },
                    format!("nested deeper than {MAX_NESTING} levels"),
                )
                .with_help("no faultline file nests this deep; is a bracket wrong?"),
            ));
        }
        let mut depth = 0usize;
        let mut parser = Parser::new_from_str(&self.text);
        while let Some(Ok((event, span))) = parser.next_event() {
            match event {
                Event::StreamEnd | Event::DocumentEnd => break,
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        let loc = self.loc_of_span(span);
                        return Err(Box::new(
                            super::FileDiagnostic::at(
                                self,
                                Loc { len: 1.min(loc.len), ..loc },
                                format!("nested deeper than {MAX_NESTING} levels"),
                            )
                            .with_help("no faultline file nests this deep; is a bracket or an indentation wrong?"),
                        ));
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// The byte offset of a 1-based line and a 1-based column counted in characters.
    pub(crate) fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let line_end = self.line_starts.get(line).map_or(self.text.len(), |next| next - 1);
        if self.ascii {
            return (start + column.saturating_sub(1)).min(line_end.max(start));
        }
        let line_text = rest.split('\n').next().unwrap_or("");
        line_text
            .char_indices()
            .nth(column.saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(start + line_text.len())
    }

    /// Location of a 1-based line and column.
    pub(crate) fn loc_at(&self, line: usize, column: usize) -> Loc {
        let offset = self.offset_of(line, column);
        Loc { offset, len: 0, line, column }
    }

    fn loc_of_span(&self, span: Span) -> Loc {
        let start = self.offset_of(span.start.line(), span.start.col() + 1);
        let end = self.offset_of(span.end.line(), span.end.col() + 1).max(start);
        Loc { offset: start, len: end - start, line: span.start.line(), column: span.start.col() + 1 }
    }

    /// The location of the key of the node at `path` (or of the value, for sequence items and
    /// the root). Falls back to the nearest ancestor that exists, then to the file start.
    pub(crate) fn key_loc(&self, path: &[Seg]) -> Loc {
        self.lookup(path, true)
    }

    /// The location of the value at `path`, with the same fallbacks as [`Self::key_loc`].
    pub(crate) fn value_loc(&self, path: &[Seg]) -> Loc {
        self.lookup(path, false)
    }

    fn lookup(&self, path: &[Seg], key: bool) -> Loc {
        for len in (0..=path.len()).rev() {
            if let Some(node) = self.index.get_or_init(|| self.build_index()).get(&path[..len]) {
                return match (key, node.key) {
                    (true, Some(k)) => k,
                    _ => node.value,
                };
            }
        }
        Loc { offset: 0, len: 0, line: 1, column: 1 }
    }

    fn build_index(&self) -> HashMap<Vec<Seg>, NodeLoc> {
        let mut index = HashMap::new();
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(&self.text);
        // Only the first document counts; a syntax error ends the walk (serde reports it).
        while let Some(Ok((event, span))) = parser.next_event() {
            match event {
                Event::StreamEnd | Event::DocumentEnd => break,
                Event::Scalar(value, ..) => {
                    if let Some((path, key)) = walker.begin(self.loc_of_span(span), Some(&value)) {
                        index.insert(path, NodeLoc { key, value: self.loc_of_span(span) });
                        walker.end();
                    }
                }
                Event::Alias(_) => {
                    if let Some((path, key)) = walker.begin(self.loc_of_span(span), None) {
                        index.insert(path, NodeLoc { key, value: self.loc_of_span(span) });
                        walker.end();
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    let here = self.loc_of_span(span);
                    if let Some((path, key)) = walker.begin(here, None) {
                        index.insert(path.clone(), NodeLoc { key, value: here });
                        walker.open(path, is_map);
                    } else {
                        walker.open_ignored();
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    walker.close();
                    walker.end();
                }
                _ => {}
            }
        }
        index
    }
}

enum Frame {
    Map {
        path: Vec<Seg>,
        key: Option<(String, Loc)>,
    },
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
    /// A node in a position that has no key path (a complex mapping key).
    Ignored,
}

#[derive(Default)]
struct Walker {
    frames: Vec<Frame>,
    /// Nodes begun inside an ignored subtree.
    ignored_depth: usize,
}

impl Walker {
    /// A node begins. Returns its key path and the location of its key, or `None` when the
    /// node is a mapping key (recorded for the next value) or has no path.
    fn begin(&mut self, here: Loc, scalar: Option<&str>) -> Option<(Vec<Seg>, Option<Loc>)> {
        if self.ignored_depth > 0 || self.frames.len() >= MAX_INDEX_DEPTH {
            return None;
        }
        match self.frames.last_mut() {
            None => Some((Vec::new(), None)),
            Some(Frame::Ignored) => None,
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                Some((p, None))
            }
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    match scalar {
                        Some(s) => *key = Some((s.to_owned(), here)),
                        // A complex key: its subtree is skipped, its value gets no path.
                        None => *key = Some((String::new(), here)),
                    }
                    None
                }
                Some((k, key_loc)) => {
                    let mut p = path.clone();
                    p.push(Seg::Key(k));
                    Some((p, Some(key_loc)))
                }
            },
        }
    }

    /// A scalar or container value has ended.
    fn end(&mut self) {
        if self.ignored_depth > 0 {
            return;
        }
        if let Some(Frame::Seq { next, .. }) = self.frames.last_mut() {
            *next += 1;
        }
    }

    fn open(&mut self, path: Vec<Seg>, is_map: bool) {
        self.frames.push(if is_map { Frame::Map { path, key: None } } else { Frame::Seq { path, next: 0 } });
    }

    fn open_ignored(&mut self) {
        self.frames.push(Frame::Ignored);
        self.ignored_depth += 1;
    }

    fn close(&mut self) {
        if let Some(Frame::Ignored) = self.frames.pop() {
            self.ignored_depth -= 1;
        }
    }
}

/// The offset of the first flow bracket (`[`, `{`) nested deeper than [`MAX_NESTING`], by a
/// lexical scan that never fails: brackets inside quoted strings, comments and plain
/// scalars (`a[b`) do not count. A YAML parser that gives up on an earlier error still scans
/// ahead, quadratically, so this runs before any parser.
fn flow_too_deep(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    // The last byte that was not a space or tab, on this line (None: start of line).
    let mut prev: Option<u8> = None;
    let mut i = 0;
    let starts_node = |p: Option<u8>| matches!(p, None | Some(b':' | b'-' | b',' | b'[' | b'{' | b'?'));
    while i < text.len() {
        let c = text[i];
        match c {
            b'\n' => {
                prev = None;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' if prev.is_none() || text.get(i.wrapping_sub(1)).is_some_and(|b| *b == b' ' || *b == b'\t') => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' if starts_node(prev) => {
                i += 1;
                while i < text.len() && text[i] != c {
                    i += if c == b'"' && text[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' if depth > 0 || starts_node(prev) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b']' | b'}' if depth > 0 => depth -= 1,
            _ => {}
        }
        prev = Some(c);
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nservices:\n  orders:\n    ports: [8080, 9090]\n    depends_on:\n      payments: { env: PAYMENTS_URL }\n";

    #[test]
    fn locates_keys_and_values() {
        let f = SourceFile::new("f.yaml", DOC);
        let k = f.key_loc(&ypath!["services", "orders", "depends_on", "payments"]);
        assert_eq!((k.line, k.column), (6, 7));
        let v = f.value_loc(&ypath!["services", "orders", "ports", 1usize]);
        assert_eq!((v.line, v.column), (4, 19));
        assert_eq!(&DOC[v.offset..v.offset + v.len], "9090");
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let f = SourceFile::new("f.yaml", DOC);
        let k = f.key_loc(&ypath!["services", "orders", "nope", "deeper"]);
        assert_eq!((k.line, k.column), (3, 3));
    }

    #[test]
    fn columns_count_characters_but_offsets_are_bytes() {
        let f = SourceFile::new("f.yaml", "a: \"é\"\nb: 2\n");
        let v = f.value_loc(&ypath!["b"]);
        assert_eq!((v.line, v.column), (2, 4));
        assert_eq!(&f.text[v.offset..v.offset + v.len], "2");
    }

    #[test]
    fn deep_flow_nesting_is_found_without_parsing() {
        let deep = format!("a: {}", "[".repeat(MAX_NESTING + 1));
        assert_eq!(flow_too_deep(deep.as_bytes()), Some(3 + MAX_NESTING));
        let fine = format!(
            "a: {}{}\nb: 'x{}'\nc: d[e[f # {}\n",
            "[".repeat(50),
            "]".repeat(50),
            "[".repeat(500),
            "{".repeat(500)
        );
        assert_eq!(flow_too_deep(fine.as_bytes()), None);
        assert!(SourceFile::new("f", deep).check_nesting().is_err());
    }

    #[test]
    fn sequence_of_mappings() {
        let f = SourceFile::new("f.yaml", "faults:\n  - on: a\n  - on: b\n    at: 1s\n");
        let k = f.key_loc(&ypath!["faults", 1usize, "at"]);
        assert_eq!((k.line, k.column), (4, 5));
    }
}
