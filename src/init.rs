//! `faultline init`: a starting faultline.yaml for a repository that has none, from its
//! docker-compose file when there is one (services, builds or images, ports, dependencies),
//! otherwise from its Dockerfiles (one service per Dockerfile, ports from `EXPOSE`). The
//! result is validated like any faultline.yaml; what could not be inferred is marked TODO.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    #[error("{} exists; faultline init never overwrites it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    Compose { path: PathBuf, reason: String },
    #[error("found no docker-compose file and no Dockerfile under {}: nothing to start", path.display())]
    #[diagnostic(help("write faultline.yaml by hand: `faultline schema` prints its JSON Schema"))]
    Nothing { path: PathBuf },
}

/// A service as init found it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Found {
    pub name: String,
    /// Build context relative to the root.
    pub build: Option<String>,
    pub image: Option<String>,
    pub ports: Vec<u16>,
    pub depends_on: Vec<String>,
}

#[derive(Deserialize)]
struct Compose {
    #[serde(default)]
    services: BTreeMap<String, ComposeService>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ComposeService {
    build: Option<serde_yaml::Value>,
    image: Option<String>,
    ports: Vec<serde_yaml::Value>,
    expose: Vec<serde_yaml::Value>,
    depends_on: Option<serde_yaml::Value>,
}

/// The container port of a compose port entry: `8080`, `"8080:80"`, `"127.0.0.1:8080:80/tcp"`,
/// or `{target: 80}`.
fn container_port(v: &serde_yaml::Value) -> Option<u16> {
    match v {
        serde_yaml::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_yaml::Value::String(s) => s.split('/').next()?.rsplit(':').next()?.trim().parse().ok(),
        serde_yaml::Value::Mapping(m) => m.get("target").and_then(container_port),
        _ => None,
    }
}

const COMPOSE_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// The services of `root`'s compose file, if it has one.
pub fn from_compose(root: &Path) -> Result<Option<Vec<Found>>, InitError> {
    let Some(path) = COMPOSE_FILES.iter().map(|f| root.join(f)).find(|p| p.is_file()) else { return Ok(None) };
    let text = std::fs::read_to_string(&path).map_err(|source| InitError::Io { path: path.clone(), source })?;
    let compose: Compose =
        serde_yaml::from_str(&text).map_err(|e| InitError::Compose { path: path.clone(), reason: e.to_string() })?;
    let mut out = Vec::new();
    for (name, s) in compose.services {
        let build = match &s.build {
            Some(serde_yaml::Value::String(ctx)) => Some(ctx.clone()),
            Some(serde_yaml::Value::Mapping(m)) => {
                Some(m.get("context").and_then(|c| c.as_str()).unwrap_or(".").to_owned())
            }
            _ => None,
        }
        .map(|c| c.trim_start_matches("./").trim_end_matches('/').to_owned())
        .map(|c| if c.is_empty() { ".".to_owned() } else { c });
        let mut ports: Vec<u16> = s.ports.iter().chain(&s.expose).filter_map(container_port).collect();
        ports.sort_unstable();
        ports.dedup();
        let depends_on = match &s.depends_on {
            Some(serde_yaml::Value::Sequence(list)) => {
                list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            Some(serde_yaml::Value::Mapping(m)) => m.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        out.push(Found { name, build, image: if s.build.is_some() { None } else { s.image }, ports, depends_on });
    }
    Ok(Some(out))
}

/// One service per Dockerfile under `root` (not in `.git`, `target`, `node_modules`).
pub fn from_dockerfiles(root: &Path) -> Result<Vec<Found>, InitError> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| InitError::Io { path: dir.clone(), source })?;
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if ![".git", "target", "node_modules", ".venv", "vendor"].contains(&name.as_str()) {
                    pending.push(p);
                }
            } else if name == "Dockerfile" {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let mut ports: Vec<u16> = text
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
                    .flat_map(|l| {
                        l.split_whitespace().filter_map(|p| p.split('/').next()?.parse().ok()).collect::<Vec<_>>()
                    })
                    .collect();
                ports.sort_unstable();
                ports.dedup();
                let rel = dir.strip_prefix(root).unwrap_or(&dir).to_string_lossy().into_owned();
                let service = if rel.is_empty() {
                    root.file_name().map_or("app".into(), |n| n.to_string_lossy().into_owned())
                } else {
                    Path::new(&rel).file_name().map_or(rel.clone(), |n| n.to_string_lossy().into_owned())
                };
                let service: String =
                    service
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }
                        })
                        .collect();
                out.push(Found {
                    name: service,
                    build: Some(if rel.is_empty() { ".".into() } else { rel }),
                    image: None,
                    ports,
                    depends_on: Vec::new(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// A URL template for a dependency by what it probably is.
fn url_for(dep: &Found) -> (String, String) {
    let n = format!("{} {}", dep.name, dep.image.as_deref().unwrap_or("")).to_ascii_lowercase();
    let env = format!("{}_URL", dep.name.to_ascii_uppercase().replace('-', "_"));
    let url = if n.contains("postgres") || dep.ports.contains(&5432) {
        "postgres://postgres@{host}:{port}/postgres"
    } else if n.contains("redis") || dep.ports.contains(&6379) {
        "redis://{host}:{port}"
    } else if n.contains("mysql") || dep.ports.contains(&3306) {
        "mysql://root@{host}:{port}/app"
    } else {
        "http://{host}:{port}"
    };
    (env, url.to_owned())
}

/// faultline.yaml for `found`, with comments where a person must decide.
pub fn render(found: &[Found], source: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# faultline.yaml, written by `faultline init` from {source}. Check every TODO, then");
    let _ = writeln!(o, "# `faultline up --keep` to see the stack come up, and add scenarios under scenarios/.");
    let _ = writeln!(o, "version: 1\nservices:");
    for f in found {
        let _ = writeln!(o, "  {}:", f.name);
        match (&f.build, &f.image) {
            (Some(b), _) => {
                let glob = if b == "." { "**".to_owned() } else { format!("{b}/**") };
                let _ = writeln!(o, "    paths: [\"{glob}\"]");
                let _ = writeln!(o, "    build: {b}");
            }
            (None, Some(i)) => {
                let _ = writeln!(o, "    image: {i}   # TODO: no registry? build it from a Dockerfile instead");
            }
            (None, None) => {
                let _ = writeln!(o, "    image: TODO   # neither build nor image was found");
            }
        }
        if f.ports.is_empty() {
            let _ = writeln!(o, "    # ports: []   # TODO: which ports does it listen on?");
        } else {
            let ports: Vec<String> = f.ports.iter().map(u16::to_string).collect();
            let _ = writeln!(o, "    ports: [{}]", ports.join(", "));
            let _ = writeln!(
                o,
                "    ready: {{ tcp: {} }}   # better: {{ http: /health }} or {{ log: \"ready\" }}",
                f.ports[0]
            );
        }
        let deps: Vec<&Found> = f.depends_on.iter().filter_map(|d| found.iter().find(|x| &x.name == d)).collect();
        if !deps.is_empty() {
            let _ = writeln!(o, "    depends_on:");
            for d in deps {
                let (env, url) = url_for(d);
                let _ = writeln!(
                    o,
                    "      {}: {{ env: {env}, url: \"{url}\" }}   # TODO: the variable {} reads",
                    d.name, f.name
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "policy:\n  tiers:\n    high: []      # TODO: paths whose changes need every scenario and a senior"
    );
    let _ = writeln!(
        o,
        "    low: [\"**/*.md\", \"docs/**\"]\n  seniors: []      # TODO: who may sign off\nscenarios: scenarios/"
    );
    o
}

/// Writes faultline.yaml at `root` (never over an existing one). Returns its path and text.
pub fn init(root: &Path) -> Result<(PathBuf, String), InitError> {
    let path = root.join(crate::config::CONFIG_FILE);
    if path.exists() {
        return Err(InitError::Exists { path });
    }
    let (found, source) = match from_compose(root)? {
        Some(f) if !f.is_empty() => {
            let name = COMPOSE_FILES.iter().find(|c| root.join(c).is_file()).copied().unwrap_or("compose");
            (f, name.to_owned())
        }
        _ => (from_dockerfiles(root)?, "the repository's Dockerfiles".to_owned()),
    };
    if found.is_empty() {
        return Err(InitError::Nothing { path: root.to_path_buf() });
    }
    let text = render(&found, &source);
    // create_new: a file that appeared meanwhile is not overwritten either.
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists { path: path.clone() }
        } else {
            InitError::Io { path: path.clone(), source }
        }
    })?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .map_err(|source| InitError::Io { path: path.clone(), source })?;
    Ok((path, text))
}
