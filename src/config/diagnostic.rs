//! Located, user-facing diagnostics for files the user wrote (faultline.yaml, scenarios).

use miette::{Diagnostic, NamedSource, SourceSpan};

use super::source::{Loc, Seg, SourceFile};

/// One mistake in one file, with where it is and what would fix it.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{file}:{line}:{column}: {message}")]
pub struct FileDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[source_code]
    pub(crate) src: NamedSource<std::sync::Arc<str>>,
    #[label("{label}")]
    pub(crate) span: SourceSpan,
    pub(crate) label: String,
    #[help]
    pub help: Option<String>,
}

/// Lines longer than this are not shown in a snippet: nobody reads them, and a terminal
/// renderer cannot pad that far.
const MAX_SNIPPET_LINE: usize = 1000;

/// Text quoted in a message beyond this many characters is cut.
const MAX_QUOTED: usize = 200;

/// The first names of a list, for a help line: a configuration with 20,000 services must
/// not print them all in every message.
pub(crate) fn listing<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 20;
    let mut out: Vec<&str> = names.iter().take(SHOWN).map(AsRef::as_ref).collect();
    let more = format!("… ({} in all)", names.len());
    if names.len() > SHOWN {
        out.push(&more);
    }
    out.join(", ")
}

/// `s`, cut to a readable length with the number of characters left out.
pub(crate) fn clip(s: &str) -> String {
    let n = s.chars().count();
    if n <= MAX_QUOTED * 2 {
        return s.to_owned();
    }
    let head: String = s.chars().take(MAX_QUOTED).collect();
    format!("{head}… ({} more characters)", n - MAX_QUOTED)
}

impl FileDiagnostic {
    pub(crate) fn at(file: &SourceFile, loc: Loc, message: impl Into<String>) -> Self {
        let message = clip(&message.into());
        let offset = loc.offset.min(file.text.len());
        // The snippet shows the line and its neighbours; if any is too long, none is shown.
        let start = file.text[..offset].rmatch_indices('\n').nth(1).map_or(0, |(i, _)| i + 1);
        let end = file.text[offset..].match_indices('\n').nth(1).map_or(file.text.len(), |(i, _)| offset + i);
        let readable = file.text.get(start..end).is_some_and(|t| t.lines().all(|l| l.len() <= MAX_SNIPPET_LINE));
        let (src, span) = if readable {
            (NamedSource::new(file.name.clone(), file.text.clone()), SourceSpan::new(loc.offset.into(), loc.len))
        } else {
            let note: std::sync::Arc<str> =
                format!("(line {} is too long to show; column {})", loc.line, loc.column).into();
            (NamedSource::new(file.name.clone(), note), SourceSpan::new(0.into(), 0))
        };
        FileDiagnostic {
            file: file.name.clone(),
            line: loc.line,
            column: loc.column,
            label: "here".to_owned(),
            src,
            span,
            message,
            help: None,
        }
    }

    /// A diagnostic at the key of `path` (or its nearest existing ancestor).
    pub(crate) fn at_key(file: &SourceFile, path: &[Seg], message: impl Into<String>) -> Self {
        Self::at(file, file.key_loc(path), message)
    }

    /// A diagnostic at the value of `path` (or its nearest existing ancestor).
    pub(crate) fn at_value(file: &SourceFile, path: &[Seg], message: impl Into<String>) -> Self {
        Self::at(file, file.value_loc(path), message)
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(clip(&help.into()));
        self
    }

    pub(crate) fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = clip(&label.into());
        self
    }

    /// Turns a serde_yaml error into a located diagnostic; an unknown key or variant gets the
    /// nearest valid name as help.
    pub(crate) fn from_serde(file: &SourceFile, err: &serde_yaml::Error) -> Self {
        let loc = match err.location() {
            Some(l) => file.loc_at(l.line(), l.column()),
            None => file.loc_at(1, 1),
        };
        // serde_yaml prefixes the key path ("services.orders: ...") and may append the
        // position; both are shown elsewhere.
        let full = err.to_string();
        let without_at = match full.rfind(" at line ") {
            Some(i) => &full[..i],
            None => full.as_str(),
        };
        // A value that failed to convert (`3ss` as a duration) is located by serde at its
        // enclosing map; when the message quotes the value, point at the value itself.
        let loc = quoted_value(without_at).and_then(|v| value_after(file, loc, v)).unwrap_or(loc);
        let mut d = Self::at(file, widen_to_word(file, loc), without_at.to_owned());
        if let Some((found, expected)) = parse_unknown(without_at) {
            d.label = clip(&format!("unknown `{found}`"));
            d.help = Some(clip(&match nearest(&found, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? valid here: {}", listing(&expected)),
                None => format!("valid here: {}", listing(&expected)),
            }));
        }
        d
    }
}

/// The first `backticked` text of a conversion error (not of an unknown-key error).
fn quoted_value(msg: &str) -> Option<&str> {
    if msg.contains("unknown field") || msg.contains("unknown variant") {
        return None;
    }
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len]).filter(|v| !v.is_empty())
}

/// Where `value` next appears from `loc`, on this line or the few after it.
fn value_after(file: &SourceFile, loc: Loc, value: &str) -> Option<Loc> {
    let from = loc.offset.min(file.text.len());
    let window_end = file.text[from..].match_indices('\n').nth(20).map_or(file.text.len(), |(i, _)| from + i);
    let at = from + file.text[from..window_end].find(value)?;
    let line = file.text[..at].matches('\n').count() + 1;
    let line_start = file.text[..at].rfind('\n').map_or(0, |i| i + 1);
    let column = file.text[line_start..at].chars().count() + 1;
    Some(Loc { offset: at, len: value.len(), line, column })
}

/// Stretches a zero-length location over the word that starts there, so the snippet
/// underlines the offending key.
fn widen_to_word(file: &SourceFile, loc: Loc) -> Loc {
    if loc.len > 0 {
        return loc;
    }
    let rest = &file.text[loc.offset.min(file.text.len())..];
    let len = rest.find([':', '\n', ',', '}', ']']).unwrap_or(rest.len());
    Loc { len: rest[..len].trim_end().len(), ..loc }
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" (and the `variant` form).
fn parse_unknown(msg: &str) -> Option<(String, Vec<String>)> {
    let start =
        msg.find("unknown field `").map(|i| i + 15).or_else(|| msg.find("unknown variant `").map(|i| i + 17))?;
    let rest = &msg[start..];
    let end = rest.find('`')?;
    let found = rest[..end].to_owned();
    let tail = &rest[end + 1..];
    let expected = tail.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>();
    Some((found, expected))
}

/// The candidate closest to `word`, if any is close enough to be a plausible typo.
pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serde_unknown_field() {
        let (found, expected) =
            parse_unknown("services.orders: unknown field `dependson`, expected one of `paths`, `depends_on`").unwrap();
        assert_eq!(found, "dependson");
        assert_eq!(expected, ["paths", "depends_on"]);
    }

    #[test]
    fn parses_serde_unknown_variant() {
        let (found, expected) =
            parse_unknown("unknown variant `afected`, expected one of `all`, `affected`, `none`").unwrap();
        assert_eq!(found, "afected");
        assert_eq!(expected, ["all", "affected", "none"]);
    }

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(nearest("dependson", ["paths", "depends_on", "env"]), Some("depends_on"));
        assert_eq!(nearest("zzzz", ["paths", "depends_on"]), None);
    }
}
