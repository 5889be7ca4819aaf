//! Rendered files (`services.*.files`): the placeholders `{DEP.host}` and `{DEP.port}` in a
//! file's text, found and filled the same way for the configuration's check and the stack's
//! render.
//!
//! A placeholder is `{` + a service name + `.` + a lowercase word + `}`; any other brace is
//! text (a JSON or YAML file is full of them), so no escaping is needed.

/// The keys a placeholder may name.
pub(crate) const KEYS: [&str; 2] = ["host", "port"];

/// The most a rendered file may hold, template or result: a configuration file is a few
/// kilobytes.
pub const MAX_RENDERED_BYTES: u64 = 1 << 20;

/// The most files one service may have rendered into its container.
pub(crate) const MAX_FILES: usize = 32;

/// One placeholder found in a text: where it is (byte offset and length of `{…}`), the
/// service and the key it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder<'a> {
    pub offset: usize,
    pub len: usize,
    pub service: &'a str,
    pub key: &'a str,
}

/// Every placeholder of `text`, in order.
pub(crate) fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(open) = text[i..].find('{').map(|o| o + i) {
        i = open + 1;
        let name_end = bytes[i..]
            .iter()
            .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_'))
            .map_or(bytes.len(), |p| p + i);
        if name_end == i || bytes.get(name_end) != Some(&b'.') {
            continue;
        }
        let key_start = name_end + 1;
        let key_end =
            bytes[key_start..].iter().position(|b| !b.is_ascii_lowercase()).map_or(bytes.len(), |p| p + key_start);
        if key_end == key_start || bytes.get(key_end) != Some(&b'}') {
            continue;
        }
        out.push(Placeholder {
            offset: open,
            len: key_end + 1 - open,
            service: &text[i..name_end],
            key: &text[key_start..key_end],
        });
        i = key_end + 1;
    }
    out
}

/// Why a placeholder cannot be filled: it names no dependency of the service, or a key
/// other than [`KEYS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: String,
}

/// Checks every placeholder of `text` against the dependencies `deps` of `service`.
pub(crate) fn check(text: &str, service: &str, deps: &[&str]) -> Vec<Unknown> {
    let mut out = Vec::new();
    for p in placeholders(text) {
        if !deps.contains(&p.service) {
            let help = match super::diagnostic::nearest(p.service, deps.iter().copied()) {
                Some(n) => format!(
                    "did you mean `{{{n}.{}}}`? the dependencies of `{service}` are: {}",
                    p.key,
                    deps.join(", ")
                ),
                None if deps.is_empty() => {
                    format!("`{service}` has no `depends_on`: a placeholder names one of its edges")
                }
                None => format!("the dependencies of `{service}` are: {}", deps.join(", ")),
            };
            out.push(Unknown {
                offset: p.offset,
                len: p.len,
                message: format!("`{}` is not a dependency of `{service}`", &text[p.offset..p.offset + p.len]),
                help,
            });
        } else if !KEYS.contains(&p.key) {
            let help = match super::diagnostic::nearest(p.key, KEYS) {
                Some(k) => format!("did you mean `{{{}.{k}}}`? placeholders: {{DEP.host}}, {{DEP.port}}", p.service),
                None => "placeholders: {DEP.host}, {DEP.port}".to_owned(),
            };
            out.push(Unknown {
                offset: p.offset,
                len: p.len,
                message: format!("unknown placeholder `{}`", &text[p.offset..p.offset + p.len]),
                help,
            });
        }
    }
    out
}

/// `text` with every placeholder filled by `value(service, key)`; a placeholder it has no
/// value for is left as it is (the caller checked them first with [`check`]).
pub(crate) fn render<'a>(text: &'a str, value: impl Fn(&str, &str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for p in placeholders(text) {
        if let Some(v) = value(p.service, p.key) {
            out.push_str(&text[at..p.offset]);
            out.push_str(v);
            at = p.offset + p.len;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// Renders the text of a rendered file (`name` its template, or where its `content` is)
/// of `service`, each `{DEP.host}` and `{DEP.port}` filled from `addresses` (`(DEP, host,
/// port)`, the service's edges as it dials them). A placeholder that names no edge or key is
/// an error located in the text, with the nearest name; at most 8 are listed.
pub fn render_file(
    name: &str,
    text: &str,
    service: &str,
    addresses: &[(&str, &str, &str)],
) -> Result<String, Vec<super::FileDiagnostic>> {
    let deps: Vec<&str> = addresses.iter().map(|(d, _, _)| *d).collect();
    let unknown = check(text, service, &deps);
    if !unknown.is_empty() {
        return Err(unknown.iter().take(8).map(|u| located(name, text, u)).collect());
    }
    Ok(render(text, |dep, key| {
        let (_, host, port) = addresses.iter().find(|(d, _, _)| *d == dep)?;
        Some(if key == "host" { host } else { port })
    }))
}

/// A located diagnostic in the text of a rendered file's template (`name`).
pub(crate) fn located(name: &str, text: &str, u: &Unknown) -> super::FileDiagnostic {
    let file = super::SourceFile::new(name, text.to_owned());
    let before = &text[..u.offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let loc = super::source::Loc { offset: u.offset, len: u.len, line, column };
    super::FileDiagnostic::at(&file, loc, u.message.clone()).with_label("unknown placeholder").with_help(u.help.clone())
}

/// Whether `path` is a file path faultline may write in a container: absolute, without
/// `..`, NUL or a trailing `/`, not the root.
pub(crate) fn valid_target(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && path.len() <= 1024
        && !path.ends_with('/')
        && !path.split('/').any(|s| s == "..")
        && !path.chars().any(char::is_control)
}

/// Whether `path` is a repository path faultline may read: relative, without `..`.
pub(crate) fn valid_repo_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.split('/').any(|s| s == "..")
        && !path.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_among_json_braces() {
        let t = r#"{"payments": {"url": "http://{payments.host}:{payments.port}/v1"}, "x": "{not one}", "{a.B}": 1}"#;
        let found: Vec<(&str, &str)> = placeholders(t).iter().map(|p| (p.service, p.key)).collect();
        assert_eq!(found, [("payments", "host"), ("payments", "port")]);
        let out = render(t, |s, k| match (s, k) {
            ("payments", "host") => Some("payments"),
            ("payments", "port") => Some("41234"),
            _ => None,
        });
        assert_eq!(out, r#"{"payments": {"url": "http://payments:41234/v1"}, "x": "{not one}", "{a.B}": 1}"#);
    }

    #[test]
    fn unknown_placeholders_are_located_with_the_nearest_name() {
        let t = "a: {paymnts.host}\nb: {payments.hots}\nc: {payments.port}";
        let u = check(t, "orders", &["payments", "stock"]);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!((u[0].offset, u[0].len), (3, 14));
        assert!(u[0].help.contains("did you mean `{payments.host}`"), "{}", u[0].help);
        assert!(u[1].message.contains("unknown placeholder `{payments.hots}`"), "{}", u[1].message);
        assert!(u[1].help.contains("{payments.host}"), "{}", u[1].help);
    }

    #[test]
    fn targets_and_repository_paths() {
        assert!(valid_target("/app/peers.json"));
        for bad in ["app/peers.json", "/", "/app/", "/app/../etc/passwd", "/a\0b"] {
            assert!(!valid_target(bad), "{bad:?}");
        }
        assert!(valid_repo_path("config/peers.json.tmpl"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x"] {
            assert!(!valid_repo_path(bad), "{bad:?}");
        }
    }
}
