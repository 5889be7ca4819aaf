//! `faultline init`: a starting faultline.yaml for a repository that has none, from its
//! docker-compose file when there is one (services, builds or images, ports, dependencies),
//! otherwise from its Dockerfiles (one service per Dockerfile, ports from `EXPOSE`) and what
//! the repository says it depends on ([`detect`]: a database, a cache, outside HTTP APIs). The
//! result is validated like any faultline.yaml; what could not be inferred is marked TODO, and
//! every image a Dockerfile pulls from a registry is named.

pub(crate) mod detect;

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
    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] crate::bounded::ReadError),
    #[error("found no docker-compose file and no Dockerfile under {}: nothing to start", path.display())]
    #[diagnostic(help("write faultline.yaml by hand: `faultline schema` prints its JSON Schema"))]
    Nothing { path: PathBuf },
}

/// A service as init found it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Found {
    pub name: String,
    /// Build context relative to the root.
    pub build: Option<String>,
    pub image: Option<String>,
    pub ports: Vec<u16>,
    pub depends_on: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Images its Dockerfile pulls (`FROM`).
    pub pulls: Vec<String>,
    /// Comment lines above it: why it is there, what to decide.
    pub notes: Vec<String>,
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
pub(crate) fn from_compose(root: &Path) -> Result<Option<Vec<Found>>, InitError> {
    let Some(path) = COMPOSE_FILES.iter().map(|f| root.join(f)).find(|p| p.is_file()) else { return Ok(None) };
    let bytes = crate::bounded::read(&path, Some(root), MAX_READ_BYTES)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
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
        let pulls = build.as_ref().map_or_else(Vec::new, |b| pulls_of(root, &root.join(b).join("Dockerfile")));
        out.push(Found {
            name,
            build,
            image: if s.build.is_some() { None } else { s.image },
            ports,
            depends_on,
            pulls,
            ..Found::default()
        });
    }
    Ok(Some(out))
}

/// One service per Dockerfile under `root` (not in `.git`, `target`, `node_modules`).
pub(crate) fn from_dockerfiles(root: &Path) -> Result<Vec<Found>, InitError> {
    let tree = detect::walk(root);
    if let Some((path, source)) = tree.unreadable.into_iter().next() {
        return Err(InitError::Io { path, source });
    }
    let mut out = Vec::new();
    for p in tree.files.iter().filter(|p| p.file_name().is_some_and(|n| n == "Dockerfile")) {
        let dir = p.parent().unwrap_or(root).to_path_buf();
        let text = read_text(root, p);
        let mut ports: Vec<u16> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
            .flat_map(|l| l.split_whitespace().filter_map(|p| p.split('/').next()?.parse().ok()).collect::<Vec<_>>())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        let rel = dir.strip_prefix(root).unwrap_or(&dir).to_string_lossy().into_owned();
        let service = if rel.is_empty() {
            root.file_name().map_or("app".into(), |n| n.to_string_lossy().into_owned())
        } else {
            Path::new(&rel).file_name().map_or(rel.clone(), |n| n.to_string_lossy().into_owned())
        };
        let service: String = service
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
            .collect();
        // A name starts with a letter or digit (a temporary `.tmpXYZ` folder, `_app`).
        let service = match service.trim_start_matches(['-', '_']) {
            "" => "app".to_owned(),
            s => s.to_owned(),
        };
        out.push(Found {
            name: service,
            build: Some(if rel.is_empty() { ".".into() } else { rel }),
            ports,
            pulls: detect::pulled_images(&text),
            ..Found::default()
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// The images the Dockerfile at `path` (under `root`) pulls; none when there is no such file.
fn pulls_of(root: &Path, path: &Path) -> Vec<String> {
    detect::pulled_images(&read_text(root, path))
}

/// The most `faultline init` reads of a compose file or a Dockerfile.
const MAX_READ_BYTES: u64 = 1 << 20;

/// The text of `path` under `root`, bounded like every file faultline reads from a
/// repository (a FIFO named Dockerfile must not hang init); empty when it cannot be read.
fn read_text(root: &Path, path: &Path) -> String {
    let bytes = crate::bounded::read(path, Some(root), MAX_READ_BYTES).ok().flatten().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Adds the database and cache the repository shows signs of (unless a service found is one
/// already), each a dependency of the services whose folders the signs are in (of every
/// service when they are outside all of them); notes the outside HTTP APIs they call.
pub(crate) fn add_dependencies(found: &mut Vec<Found>, evidence: &[detect::Evidence]) {
    let apps: Vec<(String, String)> = found.iter().filter_map(|f| Some((f.name.clone(), f.build.clone()?))).collect();
    // The services a file belongs to: the one with the longest build context holding it.
    let owners = |file: &str| -> Vec<String> {
        let best = apps
            .iter()
            .filter(|(_, ctx)| ctx == "." || file.starts_with(&format!("{ctx}/")))
            .max_by_key(|(_, ctx)| if ctx == "." { 0 } else { ctx.len() });
        match best {
            Some((name, ctx)) if ctx != "." || apps.len() == 1 => vec![name.clone()],
            _ => apps.iter().map(|(n, _)| n.clone()).collect(),
        }
    };
    let is = |f: &Found, word: &str, port: u16| {
        f.name.contains(word) || f.image.as_deref().is_some_and(|i| i.contains(word)) || f.ports.contains(&port)
    };
    for (kind, name, image, port, env) in [
        (detect::Kind::Postgres, "postgres", "postgres:16", 5432, vec![("POSTGRES_HOST_AUTH_METHOD", "trust")]),
        (detect::Kind::Redis, "redis", "redis:7", 6379, vec![]),
    ] {
        let signs: Vec<&detect::Evidence> = evidence.iter().filter(|e| e.kind == kind).collect();
        let Some(first) = signs.first() else { continue };
        if found.iter().any(|f| is(f, name, port)) {
            continue;
        }
        let mut users: Vec<String> = Vec::new();
        for e in &signs {
            for o in owners(&e.file) {
                if !users.contains(&o) {
                    users.push(o);
                }
            }
        }
        for f in found.iter_mut().filter(|f| users.contains(&f.name)) {
            f.depends_on.push(name.to_owned());
        }
        let at = |e: &detect::Evidence| if e.line == 0 { e.file.clone() } else { format!("{}:{}", e.file, e.line) };
        let mut notes = vec![format!("found: {} in {}", first.what, at(first))];
        if signs.len() > 1 {
            notes[0].push_str(&format!(
                " (and {} more sign{})",
                signs.len() - 1,
                if signs.len() == 2 { "" } else { "s" }
            ));
        }
        found.push(Found {
            name: name.to_owned(),
            image: Some(image.to_owned()),
            ports: vec![port],
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            notes,
            ..Found::default()
        });
    }
    // Outside APIs: faultline starts nothing from the internet; a stand-in makes them faultable.
    let mut hosts: Vec<(&str, &detect::Evidence)> = Vec::new();
    for e in evidence {
        if let detect::Kind::Http(h) = &e.kind
            && !hosts.iter().any(|(x, _)| x == h)
        {
            hosts.push((h, e));
        }
    }
    for (host, e) in hosts.into_iter().take(5) {
        for f in found.iter_mut().filter(|f| owners(&e.file).contains(&f.name)) {
            f.notes.push(format!(
                "TODO: it calls {host} ({}:{}); add a stand-in service for it and a depends_on edge, so faults can reach that call",
                e.file, e.line
            ));
        }
    }
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
pub(crate) fn render(found: &[Found], source: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# faultline.yaml, written by `faultline init` from {source}. Check every TODO, then");
    let _ = writeln!(o, "# `faultline up --keep` to see the stack come up, and add scenarios under scenarios/.");
    let _ = writeln!(o, "version: 1\nservices:");
    for f in found {
        for n in &f.notes {
            let _ = writeln!(o, "  # {n}");
        }
        if !f.pulls.is_empty() {
            let _ = writeln!(
                o,
                "  # its Dockerfile pulls {} from a registry: where none answers, build {} locally first",
                f.pulls.join(", "),
                if f.pulls.len() == 1 { "it" } else { "them" }
            );
        }
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
        if !f.env.is_empty() {
            let env: Vec<String> = f.env.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let _ = writeln!(o, "    env: {{ {} }}", env.join(", "));
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

/// Writes faultline.yaml at `root` (never over an existing one). Returns its path, its text,
/// and the images the services' Dockerfiles pull from a registry.
pub fn init(root: &Path) -> Result<(PathBuf, String, Vec<String>), InitError> {
    let path = root.join(crate::config::CONFIG_FILE);
    if path.exists() {
        return Err(InitError::Exists { path });
    }
    let (found, source) = match from_compose(root)? {
        Some(f) if !f.is_empty() => {
            let name = COMPOSE_FILES.iter().find(|c| root.join(c).is_file()).copied().unwrap_or("compose");
            (f, name.to_owned())
        }
        _ => {
            let mut found = from_dockerfiles(root)?;
            if !found.is_empty() {
                add_dependencies(&mut found, &detect::scan(root));
            }
            (found, "the repository's Dockerfiles and configuration".to_owned())
        }
    };
    if found.is_empty() {
        return Err(InitError::Nothing { path: root.to_path_buf() });
    }
    let mut pulls: Vec<String> = Vec::new();
    for p in found.iter().flat_map(|f| &f.pulls) {
        if !pulls.contains(p) {
            pulls.push(p.clone());
        }
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
    Ok((path, text, pulls))
}
