//! What the build of each service read, from Cargo's dep-info files, after the gate's build.
//!
//! Next to each artifact Cargo writes `NAME.d` (`target/debug/orders.d`,
//! `target/x86_64-unknown-linux-gnu/release/orders.d`), in Makefile syntax: `out: in1 in2 …`,
//! a space in a path escaped as `\ `. It lists every file the artifact was built from: the
//! sources of the crate and of its path dependencies, and the files `include_str!`,
//! `include_bytes!` and build scripts (`rerun-if-changed`) read, wherever they are in the
//! repository. Those are the files read here (rustc's own `deps/*.d` name the same files
//! relative to a directory they do not say).
//!
//! A dep-info belongs to every service that owns one of its inputs (its `paths`, or a file of
//! its build context): a build that reads a service's own sources is that service's build.
//! A changed file that such a build read, of a service the plan did not mark affected, is
//! an [`UnplannedRead`]: the plan missed a service the change reaches, and the gate cannot
//! verify the change until the service's `inputs` declare the file (then the plan selects
//! its scenarios).

use std::path::{Component, Path, PathBuf};

use crate::change::RepoPath;
use crate::config::LoadedConfig;
use crate::plan::Plan;

/// The most faultline reads of one dep-info file.
pub const MAX_DEPINFO_BYTES: u64 = 64 << 20;
/// The most dep-info files faultline reads after one build.
pub const MAX_DEPINFO_FILES: usize = 20_000;
/// How deep below the code root a Cargo target directory is looked for.
const MAX_DEPTH: usize = 8;

/// Why the inputs of the builds could not be read: the gate cannot verify.
#[derive(Debug, thiserror::Error)]
pub enum DepInfoError {
    #[error(transparent)]
    Read(#[from] crate::bounded::ReadError),
    #[error("cannot list {}: {source}", dir.display())]
    List { dir: PathBuf, source: std::io::Error },
    #[error("the build left more than {MAX_DEPINFO_FILES} dep-info files under {}: too many to read", dir.display())]
    TooMany { dir: PathBuf },
}

/// A dep-info file and the inputs it lists, as written (absolute paths, or relative to the
/// code root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepInfo {
    pub file: PathBuf,
    pub inputs: Vec<PathBuf>,
}

/// A changed file the build of `service` read, which the plan did not mark affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnplannedRead {
    pub path: RepoPath,
    pub service: String,
    /// The dep-info that says so, relative to the code root when under it.
    pub depinfo: String,
}

impl std::fmt::Display for UnplannedRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is read by the build of {} ({})", self.path, self.service, self.depinfo)
    }
}

/// Whether the gate must build every service with a `prepare:` and read what the builds
/// read: the rule selects scenarios by the affected services (or explores them) and some
/// service built by a `prepare:` is not affected.
pub fn needed(plan: &Plan, config: &crate::config::Config) -> bool {
    let Some(rule) = &plan.gate else { return false };
    (rule.scenarios == crate::config::ScenarioSelection::Affected || rule.explore)
        && config
            .services
            .iter()
            .any(|(name, s)| s.prepare.is_some() && !plan.affected.iter().any(|a| &a.service == name))
}

/// The inputs of a dep-info file's text: every word after a rule's `:`, `\ ` read as a space,
/// a line ending in `\` continued on the next. Comments (`# env-dep:…`) are skipped.
pub fn parse(text: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut words = Vec::new();
        let mut word = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    chars.next();
                    word.push(' ');
                }
                ' ' | '\t' => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        // The targets end at the first word ending in `:`.
        let Some(colon) = words.iter().position(|w| w.ends_with(':')) else { continue };
        for w in &words[colon + 1..] {
            let p = PathBuf::from(w);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Every Cargo dep-info under `root` (and under `target_dir`, `CARGO_TARGET_DIR` of the
/// build's environment, when it is elsewhere): in each directory holding Cargo's `CACHEDIR.TAG`, the
/// `.d` files next to the artifacts (not those of `deps/`, `build/`, `incremental/`,
/// `.fingerprint/`). Read bounded; a link out of the target directory is refused.
pub fn read_all(root: &Path, target_dir: Option<&Path>) -> Result<Vec<DepInfo>, DepInfoError> {
    // A relative `CARGO_TARGET_DIR` is relative to where Cargo ran (a `prepare:` may `cd`):
    // it is under the code, where Cargo's mark finds it.
    let mut targets = Vec::new();
    find_targets(root, 0, &mut targets)?;
    if let Some(t) = target_dir.filter(|t| t.is_absolute() && !t.starts_with(root)) {
        targets.push(t.to_path_buf());
    }
    let mut files = Vec::new();
    for t in &targets {
        depinfo_files(t, t, 0, &mut files)?;
    }
    let mut out = Vec::new();
    for (file, target) in files {
        let Some(bytes) = crate::bounded::read(&file, Some(&target), MAX_DEPINFO_BYTES)? else { continue };
        out.push(DepInfo { inputs: parse(&String::from_utf8_lossy(&bytes)), file });
    }
    Ok(out)
}

fn entries(dir: &Path) -> Result<Vec<(PathBuf, std::fs::FileType)>, DepInfoError> {
    let list = |source| DepInfoError::List { dir: dir.to_path_buf(), source };
    let mut out = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(list(e)),
    };
    for entry in read {
        let entry = entry.map_err(list)?;
        out.push((entry.path(), entry.file_type().map_err(list)?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The directories under `dir` that Cargo marked as its target directory.
fn find_targets(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), DepInfoError> {
    if dir.join("CACHEDIR.TAG").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for (path, ty) in entries(dir)? {
        if ty.is_dir() && path.file_name().is_some_and(|n| n != ".git") {
            find_targets(&path, depth + 1, out)?;
        }
    }
    Ok(())
}

/// The `.d` files of a target directory next to artifacts, each with the target directory.
fn depinfo_files(
    dir: &Path,
    target: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), DepInfoError> {
    for (path, ty) in entries(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if ty.is_dir() {
            if depth < 3 && !matches!(name.as_str(), "deps" | "build" | "incremental" | ".fingerprint") {
                depinfo_files(&path, target, depth + 1, out)?;
            }
        } else if name.ends_with(".d") {
            if out.len() >= MAX_DEPINFO_FILES {
                return Err(DepInfoError::TooMany { dir: target.to_path_buf() });
            }
            out.push((path, target.to_path_buf()));
        }
    }
    Ok(())
}

/// `p` with `.` and `..` resolved lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `input` as a path of the repository, when it is under the code root `root` (as given, or
/// with its links resolved: Cargo may have been started from either).
fn repo_path(input: &Path, root: &Path, canonical: &Path) -> Option<RepoPath> {
    let abs = normalize(&if input.is_absolute() { input.to_path_buf() } else { root.join(input) });
    let rel = abs.strip_prefix(normalize(root)).or_else(|_| abs.strip_prefix(canonical)).ok()?;
    use std::os::unix::ffi::OsStrExt as _;
    (!rel.as_os_str().is_empty()).then(|| RepoPath::new(rel.as_os_str().as_bytes().to_vec()))
}

/// The changed files of `plan` that a build read, for each service the plan did not mark
/// affected whose build it was ([`DepInfo`]s of the code at `root`).
pub fn unplanned_reads(plan: &Plan, config: &LoadedConfig, infos: &[DepInfo], root: &Path) -> Vec<UnplannedRead> {
    let m = &config.matchers;
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let changed: Vec<&RepoPath> = plan.changed.iter().flat_map(|p| p.touched()).collect();
    let mut out: Vec<UnplannedRead> = Vec::new();
    for info in infos {
        let inputs: Vec<RepoPath> = info.inputs.iter().filter_map(|i| repo_path(i, root, &canonical)).collect();
        let mut builds_of: Vec<usize> = Vec::new();
        for p in &inputs {
            let owners = m.owners.matches(p.as_path()).into_iter().map(|g| m.owner_of[g]);
            let contexts = m.contexts.iter().filter(|(d, _)| d.is_empty() || p.starts_with_dir(d)).map(|(_, s)| *s);
            for s in owners.chain(contexts) {
                if !builds_of.contains(&s) {
                    builds_of.push(s);
                }
            }
        }
        let depinfo = info.file.strip_prefix(root).unwrap_or(&info.file).display().to_string();
        for s in builds_of {
            let service = &m.service_names[s];
            if plan.affected.iter().any(|a| &a.service == service) {
                continue;
            }
            for path in inputs.iter().filter(|p| changed.contains(p)) {
                if !out.iter().any(|r| &r.path == path && &r.service == service) {
                    out.push(UnplannedRead { path: path.clone(), service: service.clone(), depinfo: depinfo.clone() });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dep-info as a real `cargo build` writes it, of a crate without dependencies that
    /// `include_str!`s a file outside its folder whose name has a space.
    #[test]
    fn the_dep_info_of_a_real_cargo_build_names_the_files_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join("services/orders/src")).unwrap();
        std::fs::write(root.join("docs/sch ema.sql"), "create table orders (id int);\n").unwrap();
        std::fs::write(
            root.join("services/orders/Cargo.toml"),
            "[package]\nname = \"orders\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(
            root.join("services/orders/src/main.rs"),
            "const S: &str = include_str!(\"../../../docs/sch ema.sql\");\nfn main() { println!(\"{S}\"); }\n",
        )
        .unwrap();
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--offline", "--quiet"])
            .current_dir(root.join("services/orders"))
            .env("CARGO_BUILD_JOBS", "1")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let infos = read_all(root, None).unwrap();
        let files: Vec<_> = infos.iter().map(|i| i.file.strip_prefix(root).unwrap().to_path_buf()).collect();
        assert_eq!(files, [PathBuf::from("services/orders/target/debug/orders.d")]);
        let canonical = root.canonicalize().unwrap();
        let mut read: Vec<String> =
            infos[0].inputs.iter().filter_map(|i| repo_path(i, root, &canonical)).map(|p| p.to_string()).collect();
        read.sort();
        assert_eq!(read, ["docs/sch ema.sql", "services/orders/src/main.rs"]);
        // The same with the target directory named, relative (where the build ran) or not.
        assert_eq!(read_all(root, Some(Path::new("target"))).unwrap(), infos);
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::rename(root.join("services/orders/target"), elsewhere.path().join("t")).unwrap();
        assert_eq!(read_all(root, None).unwrap(), vec![]);
        let moved = read_all(root, Some(&elsewhere.path().join("t"))).unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].inputs, infos[0].inputs);
    }

    #[test]
    fn makefile_syntax() {
        let text = "# env-dep:X=1\n/r/t/debug/a: /r/src/a\\ b.rs src/../c.rs \\\n  d.rs\n\nsrc/x.rs:\n";
        assert_eq!(parse(text), [PathBuf::from("/r/src/a b.rs"), PathBuf::from("src/../c.rs"), PathBuf::from("d.rs")]);
        assert_eq!(parse("no rule here\n"), Vec::<PathBuf>::new());
        let root = Path::new("/r");
        assert_eq!(repo_path(Path::new("/r/src/../docs/x.sql"), root, root).unwrap().to_string(), "docs/x.sql");
        assert_eq!(repo_path(Path::new("/elsewhere/x.rs"), root, root), None);
        assert_eq!(repo_path(Path::new("/r/../r2/x.rs"), root, root), None);
    }
}
