//! What a repository without a compose file depends on, from what it says about it: URLs and
//! well-known ports in its configuration files, the client libraries in its package
//! manifests, a `migrations/` folder of SQL; and which images its Dockerfiles pull.
//!
//! Every finding carries the file and line it came from, so `faultline init` can say why it
//! added a database or a cache, and a person can judge it.

use std::path::{Path, PathBuf};

/// A dependency a repository shows signs of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Postgres,
    Redis,
    /// An HTTP API outside the repository, by host.
    Http(String),
}

/// One sign: what was found where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub kind: Kind,
    /// Relative to the root.
    pub file: String,
    /// 1-based; 0 for a folder.
    pub line: usize,
    /// What was found, short.
    pub what: String,
}

/// Folders never looked into: VCS data, build outputs, installed dependencies.
pub(crate) const SKIPPED_DIRS: &[&str] =
    &[".git", "target", "node_modules", ".venv", "venv", "vendor", "dist", "build"];

/// Files read at most, and bytes of each.
const MAX_FILES: usize = 500;
const MAX_BYTES: u64 = 256 * 1024;

/// Package manifests: the libraries the application uses.
fn is_manifest(name: &str) -> bool {
    let manifests = ["Cargo.toml", "package.json", "pyproject.toml", "go.mod", "Gemfile", "Pipfile"];
    manifests.contains(&name) || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// Configuration files and package manifests.
fn is_config(name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("");
    is_manifest(name)
        || name.starts_with(".env")
        || ["yaml", "yml", "toml", "json", "env", "ini", "cfg", "conf", "properties"].contains(&ext)
}

/// Lockfiles name every transitive package: no sign of what the application itself uses.
fn is_lockfile(name: &str) -> bool {
    name.ends_with(".lock") || name == "package-lock.json" || name == "pnpm-lock.yaml" || name == "go.sum"
}

/// What is under a root, the folders in [`SKIPPED_DIRS`] left out: its folders and files,
/// each folder's entries by name, and the folders that could not be read.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
    pub unreadable: Vec<(PathBuf, std::io::Error)>,
}

/// Walks `root` (`faultline init` looks at it twice: for Dockerfiles, and for signs of what
/// the code depends on).
pub(crate) fn walk(root: &Path) -> Tree {
    let mut tree = Tree::default();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                tree.unreadable.push((dir, e));
                continue;
            }
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if !p.is_dir() {
                tree.files.push(p);
            } else if !SKIPPED_DIRS.contains(&e.file_name().to_string_lossy().as_ref()) {
                tree.dirs.push(p.clone());
                pending.push(p);
            }
        }
    }
    tree
}

/// The file name of `p`, lossily.
fn name_of(p: &Path) -> String {
    p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())
}

/// Every sign of a dependency under `root`, in file order.
pub(crate) fn scan(root: &Path) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut read = 0;
    let tree = walk(root);
    for d in tree.dirs.iter().filter(|d| name_of(d) == "migrations" && has_sql(d)) {
        out.push(Evidence {
            kind: Kind::Postgres,
            file: rel(root, d),
            line: 0,
            what: "a migrations folder of SQL files".into(),
        });
    }
    let mut files: Vec<PathBuf> = tree
        .files
        .into_iter()
        .filter(|p| {
            let name = name_of(p);
            is_config(&name) && !is_lockfile(&name)
        })
        .collect();
    files.sort();
    for p in files {
        if read == MAX_FILES {
            break;
        }
        // Bounded: a file over MAX_BYTES, a FIFO or a link out of the root is passed over.
        let Ok(Some(bytes)) = crate::bounded::read(&p, Some(root), MAX_BYTES) else { continue };
        let Ok(text) = String::from_utf8(bytes) else { continue };
        read += 1;
        let file = rel(root, &p);
        let manifest = is_manifest(&name_of(&p));
        for (i, line) in text.lines().enumerate() {
            for (kind, what) in signs(line, manifest) {
                out.push(Evidence { kind, file: file.clone(), line: i + 1, what });
            }
        }
    }
    out
}

/// The signs on one line. In a manifest, the client libraries; in configuration, URLs and
/// well-known ports.
fn signs(line: &str, manifest: bool) -> Vec<(Kind, String)> {
    let l = line.to_ascii_lowercase();
    let mut out = Vec::new();
    for scheme in ["postgres://", "postgresql://"] {
        if l.contains(scheme) {
            out.push((Kind::Postgres, format!("a `{scheme}` URL")));
        }
    }
    for scheme in ["redis://", "rediss://"] {
        if l.contains(scheme) {
            out.push((Kind::Redis, format!("a `{scheme}` URL")));
        }
    }
    let port = |n: &str| {
        l.split(|c: char| !c.is_ascii_digit()).any(|w| w == n) && (l.contains("port") || l.contains(&format!(":{n}")))
    };
    if out.is_empty() && port("5432") {
        out.push((Kind::Postgres, "PostgreSQL's port 5432".into()));
    }
    if !out.iter().any(|(k, _)| *k == Kind::Redis) && port("6379") {
        out.push((Kind::Redis, "Redis's port 6379".into()));
    }
    if manifest {
        let name =
            l.trim_start().trim_start_matches('"').split(['"', ' ', '=', '<', '>', '~', '[', ':']).next().unwrap_or("");
        let pg =
            ["tokio-postgres", "postgres", "psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "pg", "sqlx-postgres"];
        if pg.contains(&name) || (name == "sqlx" || name == "diesel") && l.contains("postgres") {
            out.push((Kind::Postgres, format!("the `{name}` library")));
        }
        if ["redis", "ioredis", "deadpool-redis", "fred", "bb8-redis", "redis-py"].contains(&name) {
            out.push((Kind::Redis, format!("the `{name}` library")));
        }
    } else {
        for host in http_hosts(&l) {
            out.push((Kind::Http(host.clone()), format!("a call to `{host}`")));
        }
    }
    out
}

/// Hosts of `http(s)://` URLs on a line that are not this machine or an example.
fn http_hosts(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in l.match_indices("http") {
        let rest = &l[i..];
        let Some(after) = rest.strip_prefix("https://").or_else(|| rest.strip_prefix("http://")) else { continue };
        let host: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
        let local = ["localhost", "127.0.0.1", "0.0.0.0", "host.docker.internal"];
        let example = host.ends_with("example.com") || host.ends_with("example.org") || host.ends_with(".test");
        if host.contains('.') && !local.contains(&host.as_str()) && !example && !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

fn has_sql(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        p.extension().is_some_and(|x| x == "sql") || (p.is_dir() && has_sql(&p))
    })
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// The images a Dockerfile's `FROM` lines pull: not `scratch`, not an earlier stage.
pub(crate) fn pulled_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let args: Vec<&str> = words[1..].iter().copied().filter(|w| !w.starts_with("--")).collect();
        let Some(image) = args.first() else { continue };
        let lower = image.to_ascii_lowercase();
        // An earlier stage is built here, not pulled.
        if lower != "scratch" && !stages.contains(&lower) && !out.iter().any(|o| o == image) {
            out.push((*image).to_owned());
        }
        if let (Some(kw), Some(alias)) = (args.get(1), args.get(2))
            && kw.eq_ignore_ascii_case("AS")
        {
            stages.push(alias.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_in_configuration_and_manifests() {
        let kinds = |line: &str, manifest: bool| signs(line, manifest).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(kinds("  url: postgres://app@db:5432/app", false), [Kind::Postgres]);
        assert_eq!(kinds("  port: 5432", false), [Kind::Postgres]);
        assert_eq!(kinds("timeout_ms: 15432", false), []);
        assert_eq!(kinds("redis_uri: \"redis://127.0.0.1:6379\"", false), [Kind::Redis]);
        assert_eq!(
            kinds("base_url: \"https://api.postmarkapp.com/email\"", false),
            [Kind::Http("api.postmarkapp.com".into())]
        );
        assert_eq!(kinds("homepage = \"http://localhost:8000\"", false), []);
        assert_eq!(
            kinds("sqlx = { version = \"0.8\", features = [\"postgres\", \"runtime-tokio\"] }", true),
            [Kind::Postgres]
        );
        assert_eq!(kinds("redis = \"0.27\"", true), [Kind::Redis]);
        assert_eq!(kinds("    \"ioredis\": \"^5.0.0\",", true), [Kind::Redis]);
        assert_eq!(kinds("psycopg[binary]>=3.1", true), [Kind::Postgres]);
        assert_eq!(kinds("serde = \"1\"", true), []);
    }

    #[test]
    fn images_a_dockerfile_pulls() {
        let d = "FROM rust:1.80-slim AS builder\nRUN cargo build\nFROM --platform=linux/amd64 debian:bookworm-slim\nCOPY --from=builder /x /x\nFROM builder AS again\nFROM scratch\n";
        assert_eq!(pulled_images(d), ["rust:1.80-slim", "debian:bookworm-slim"]);
    }
}
