//! The shape docs/ARCHITECTURE.md promises, read from the sources: arrows between the
//! top-level modules of `src/` go one way, `main.rs` stays thin, no function grows past 120
//! lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Top-level module → the top-level modules its files name as `crate::x`.
fn arrows() -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(src()).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if ["main", "lib", "cli"].contains(&name.as_str()) {
            continue;
        }
        let files = if p.is_dir() { rust_files(&p) } else { vec![p] };
        modules.insert(name, files);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let word = |s: &str| s.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>();
    let mut out = BTreeMap::new();
    for (m, files) in &modules {
        let mut deps = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(f).unwrap();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let targets: Vec<String> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').map(|s| word(s.trim())).collect(),
                    None => vec![word(rest)],
                };
                deps.extend(targets.into_iter().filter(|t| t != m && names.contains(t)));
            }
        }
        out.insert(m.clone(), deps);
    }
    out
}

#[test]
fn no_circle_between_top_level_modules() {
    let arrows = arrows();
    // Depth-first search for a path back to where it started.
    fn back(arrows: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
        arrows.get(from).into_iter().flatten().any(|d| d == to || (seen.insert(d.clone()) && back(arrows, d, to, seen)))
    }
    for m in arrows.keys() {
        assert!(!back(&arrows, m, m, &mut BTreeSet::new()), "{m} reaches itself: {arrows:#?}");
    }
    // The verdict decides on plain data: it does not know how the data was produced.
    assert!(arrows["verdict"].contains("outcome"), "{arrows:#?}");
    for producer in ["runner", "stack", "fault"] {
        assert!(!arrows["verdict"].contains(producer), "verdict imports {producer}: {arrows:#?}");
    }
    assert!(!arrows["runner"].contains("verdict"), "{arrows:#?}");
}

/// `verdict.json`'s types are plain data: the producers and the readers import them, they
/// import neither.
#[test]
fn the_outcome_data_depends_on_no_producer_and_no_reader() {
    let arrows = arrows();
    for m in ["runner", "stack", "gate", "report", "verdict", "repro"] {
        assert!(!arrows["outcome"].contains(m), "outcome imports {m}: {:?}", arrows["outcome"]);
    }
    for m in ["runner", "stack", "verdict", "report", "gate"] {
        assert!(arrows[m].contains("outcome"), "{m} does not use outcome: {:?}", arrows[m]);
    }
}

/// Whether `t` (a line without its indentation) starts a function or a method: any
/// visibility (`pub`, `pub(crate)`, `pub(in path)`, …), then any of `const`, `async`,
/// `unsafe`, `default`, `extern "ABI"`, then `fn`.
fn starts_fn(t: &str) -> bool {
    let mut rest = t;
    if let Some(r) = rest.strip_prefix("pub") {
        let r = match r.strip_prefix('(') {
            Some(r) => r.split_once(')').map_or("", |(_, r)| r),
            None => r,
        };
        if !r.starts_with(' ') {
            return false;
        }
        rest = r.trim_start();
    }
    loop {
        let before = rest;
        for q in ["const ", "async ", "unsafe ", "default "] {
            if let Some(r) = rest.strip_prefix(q) {
                rest = r.trim_start();
            }
        }
        if let Some(r) = rest.strip_prefix("extern ") {
            rest = r.trim_start();
            if let Some(abi) = rest.strip_prefix('"') {
                rest = abi.split_once('"').map_or("", |(_, r)| r).trim_start();
            }
        }
        if rest == before {
            return rest.starts_with("fn ");
        }
    }
}

#[test]
fn every_kind_of_function_is_recognised() {
    for f in [
        "fn a() {",
        "pub fn a() {",
        "pub(crate) fn a() {",
        "pub(super) async fn a() {",
        "pub(in crate::x) fn a() {",
        "pub(crate) async fn a(",
        "const fn a() {",
        "pub const unsafe fn a() {",
        "async unsafe fn a() {",
        "unsafe extern \"C\" fn a() {",
        "default fn a() {",
    ] {
        assert!(starts_fn(f), "{f}");
    }
    for f in ["pub struct Fn {", "const FN: u8 = 1;", "public fn", "pub(crate) use x::fn_a;", "fnord()", "// fn a() {"]
    {
        assert!(!starts_fn(f), "{f}");
    }
}

#[test]
fn main_is_thin_and_no_function_is_over_120_lines() {
    let main = std::fs::read_to_string(src().join("main.rs")).unwrap();
    assert!(main.lines().count() < 100, "main.rs has {} lines", main.lines().count());
    let mut long = Vec::new();
    for f in rust_files(&src()) {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if !starts_fn(t) {
                continue;
            }
            // The signature ends at the first line ending in `{` (a body follows), `;` (a
            // declaration in a trait) or `}` (a body on one line).
            let Some(end) = lines[i..].iter().map(|x| x.trim_end()).find(|x| x.ends_with(['{', ';', '}'])) else {
                continue;
            };
            if !end.ends_with('{') {
                continue;
            }
            // rustfmt closes the body at the indentation of `fn`.
            let indent = &l[..l.len() - t.len()];
            let close = format!("{indent}}}");
            if let Some(n) = lines[i + 1..].iter().position(|x| *x == close)
                && n + 2 > 120
            {
                long.push(format!("{}:{} ({} lines)", f.display(), i + 1, n + 2));
            }
        }
    }
    assert!(long.is_empty(), "functions over 120 lines: {long:?}");
}

/// The plan is what runs: after `plan::Planned::executable`, no stage reads a revision,
/// faultline.yaml or a scenario file again. The stages after the plan (and the gate, which
/// only orchestrates them) name no git2 and call no YAML reader or loader.
#[test]
fn nothing_after_the_plan_reads_git_or_yaml() {
    let after_plan = ["stack", "runner", "verdict", "report", "gate.rs", "repro.rs"];
    let forbidden = [
        "git2::",
        "serde_yaml::from_",
        "load_config",
        "load_all",
        "load_each",
        "scenario::parse",
        "config::parse",
        "scenario::discover",
        ".resolve(",
    ];
    let mut found = Vec::new();
    for m in after_plan {
        let p = src().join(m);
        let files = if p.is_dir() { rust_files(&p) } else { vec![p] };
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                for word in forbidden.iter().filter(|w| line.contains(*w)) {
                    found.push(format!("{}:{}: {word}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "read after the plan: {found:#?}");
}

/// Every `Result<…, String>` (and `Ok::<…, String>`, `Err::<…, String>`, and the error type
/// of a `TryFrom` or `FromStr` that is a `String`) in `text`, with its line, whatever lines
/// the signature spans: an error that is a `String` cannot be matched on, only printed.
fn string_errors(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for start in ["type Error", "type Err"] {
        for (i, _) in text.match_indices(start) {
            let rest = &text[i + start.len()..];
            let Some(assigned) = rest.trim_start().strip_prefix('=') else { continue };
            let Some(ty) = assigned.split(';').next().map(str::trim) else { continue };
            if is_string(ty) {
                let line = text[..i].matches('\n').count() + 1;
                out.push((line, format!("{start} = {ty}")));
            }
        }
    }
    for start in ["Result<", "Ok::<", "Err::<"] {
        for (i, _) in text.match_indices(start) {
            if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let open = i + start.len();
            // The generic arguments, split at top-level commas (`->` is not a bracket).
            let (mut depth, mut args, mut from) = (1, Vec::new(), open);
            let bytes = text.as_bytes();
            let mut j = open;
            while j < bytes.len() && depth > 0 {
                match bytes[j] {
                    b'<' | b'(' | b'[' => depth += 1,
                    b'>' if j > 0 && bytes[j - 1] == b'-' => {}
                    b'>' | b')' | b']' => depth -= 1,
                    b',' if depth == 1 => {
                        args.push(&text[from..j]);
                        from = j + 1;
                    }
                    b';' | b'{' => break,
                    _ => {}
                }
                j += 1;
            }
            if depth == 0 {
                args.push(&text[from..j - 1]);
                // A trailing comma leaves an empty last argument.
                args.retain(|a| !a.trim().is_empty());
                if args.len() == 2 && is_string(args[1]) {
                    let line = text[..i].matches('\n').count() + 1;
                    out.push((line, text[i..j].split_whitespace().collect::<Vec<_>>().join(" ")));
                }
            }
        }
    }
    out.sort();
    out
}

/// `String`, however it is spelled.
fn is_string(ty: &str) -> bool {
    let ty: String = ty.split_whitespace().collect();
    matches!(ty.as_str(), "String" | "std::string::String" | "::std::string::String" | "alloc::string::String")
}

#[test]
fn string_errors_are_found() {
    let text = "fn a() -> Result<Vec<Vec<String>>, String> {}\nfn b() -> Result<String, E> {}\n\
                fn c() -> io::Result<String> {}\nfn d() -> Result<\n    Box<dyn Fn() -> u8>,\n    String,\n> {}\n\
                let x = Ok::<(u8, String), String>(v);\nfn e() -> MyResult<u8, String> {}\n\
                impl FromStr for P {\n    type Err = String;\n}\nimpl TryFrom<String> for D {\n    type Error =\n        std::string::String;\n}\n\
                fn f() -> Result<(), (String, String)> {}\nfn g() -> Result<\n    u8,\n    std::string::String\n> {}\n\
                impl TryFrom<u8> for E {\n    type Error = EError;\n}";
    let found: Vec<usize> = string_errors(text).into_iter().map(|(l, _)| l).collect();
    assert_eq!(found, [1, 4, 8, 11, 14, 18]);
}

#[test]
fn no_error_is_a_string() {
    let mut found = Vec::new();
    for f in rust_files(&src()) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (line, what) in string_errors(&text) {
            found.push(format!("{}:{line}: {what}", f.strip_prefix(src()).unwrap_or(&f).display()));
        }
    }
    assert!(
        found.is_empty(),
        "errors that are a String (give the module's error enum a variant):\n{}",
        found.join("\n")
    );
}
