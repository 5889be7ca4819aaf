//! `faultline init`: a starting faultline.yaml for a repository that has none, from its
//! docker-compose file when there is one (services, builds or images, ports, dependencies),
//! otherwise from its Dockerfiles (one service per Dockerfile, ports from `EXPOSE`) and what
//! the repository says it depends on ([`detect`]: a database, a cache, outside HTTP APIs). The
//! result is validated like any faultline.yaml; what could not be inferred is marked TODO, and
//! every image a Dockerfile pulls from a registry is named.

mod adopt;
pub(crate) mod detect;
mod fallback;
mod openapi;

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
    /// Its Dockerfile relative to the root, when not the context's own.
    pub dockerfile: Option<String>,
    pub build_args: Vec<(String, String)>,
    /// Other names it is reached by (compose network aliases).
    pub aliases: Vec<String>,
    /// Published to the host (compose `ports:`): where users come in.
    pub published: bool,
    /// Its own folder in a build context shared with other services.
    pub own: Option<String>,
    /// A rendered peers file: (target in the container, content with placeholders, source).
    pub peers_file: Option<(String, String, String)>,
    /// The dependencies reached through `peers_file`.
    pub through_peers: Vec<String>,
    pub routes: Vec<adopt::Route>,
    /// The OpenAPI description its routes also came from.
    pub openapi: Option<String>,
    /// Dependencies its code calls only after an error, with where.
    pub fallbacks: Vec<(String, fallback::Fallback)>,
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
    networks: Option<serde_yaml::Value>,
    environment: Option<serde_yaml::Value>,
}

/// `KEY: value` pairs of a compose mapping or `KEY=value` list.
fn pairs(v: Option<&serde_yaml::Value>) -> Vec<(String, String)> {
    let scalar = |v: &serde_yaml::Value| match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Some(serde_yaml::Value::Mapping(m)) => {
            m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar(v)?))).collect()
        }
        Some(serde_yaml::Value::Sequence(l)) => {
            l.iter().filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
        }
        _ => Vec::new(),
    }
}

/// `a/b/../c` as `a/c`; `None` when it leaves the root.
fn normalize(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(if out.is_empty() { ".".to_owned() } else { out.join("/") })
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
        let spec = match &s.build {
            Some(serde_yaml::Value::Mapping(m)) => Some(m),
            _ => None,
        };
        // compose's `dockerfile` is relative to the context; faultline's to the root.
        let dockerfile = spec
            .and_then(|m| m.get("dockerfile")?.as_str())
            .zip(build.as_deref())
            .and_then(|(d, ctx)| normalize(&format!("{ctx}/{d}")))
            .filter(|d| Some(d.as_str()) != build.as_deref().map(|b| format!("{b}/Dockerfile")).as_deref());
        let build_args = pairs(spec.and_then(|m| m.get("args")));
        let aliases = match &s.networks {
            Some(serde_yaml::Value::Mapping(nets)) => nets
                .values()
                .filter_map(|n| n.get("aliases")?.as_sequence())
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let dockerfile_path = match (&dockerfile, &build) {
            (Some(d), _) => root.join(d),
            (None, Some(b)) => root.join(b).join("Dockerfile"),
            _ => PathBuf::new(),
        };
        let pulls = if build.is_some() { pulls_of(root, &dockerfile_path) } else { Vec::new() };
        out.push(Found {
            name,
            build,
            image: if s.build.is_some() { None } else { s.image },
            published: !s.ports.is_empty(),
            ports,
            depends_on,
            env: pairs(s.environment.as_ref()),
            pulls,
            dockerfile,
            build_args,
            aliases,
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

/// What a system nobody here wrote says about itself: each service's own folder in a shared
/// context, the peers file it reads (rendered with the edges' placeholders), its routes.
fn adopt_pass(root: &Path, found: &mut [Found]) {
    let files = adopt::files(root);
    let names: Vec<String> = found.iter().map(|f| f.name.clone()).collect();
    let peers = adopt::peers_files(root, &files, &names);
    let contexts: Vec<Option<String>> = found.iter().map(|f| f.build.clone()).collect();
    for f in found.iter_mut() {
        let Some(ctx) = f.build.clone() else { continue };
        let shared = contexts.iter().filter(|c| c.as_deref() == Some(ctx.as_str())).count() > 1;
        let arg = f.build_args.iter().find(|(_, v)| *v == f.name).map(|(_, v)| v.clone());
        if shared {
            f.own = adopt::own_dir(root, &ctx, arg.as_deref().unwrap_or(&f.name));
        }
        let dir = f.own.clone().unwrap_or_else(|| ctx.clone());
        for p in &peers {
            let used: Vec<String> = adopt::peers_used(root, &files, &dir, p)
                .into_iter()
                .filter(|u| *u != f.name && names.contains(u))
                .collect();
            let (Some(target), false) = (&p.target, used.is_empty()) else { continue };
            let mut obj = serde_json::Map::new();
            for (k, url) in &p.entries {
                let v = if used.contains(k) {
                    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
                    let tail = rest.find('/').map_or("", |i| &rest[i..]);
                    format!("{scheme}://{{{k}.host}}:{{{k}.port}}{tail}")
                } else {
                    url.clone()
                };
                obj.insert(k.clone(), serde_json::Value::String(v));
            }
            let content = serde_json::to_string_pretty(&serde_json::Value::Object(obj)).unwrap_or_default() + "\n";
            f.peers_file = Some((target.clone(), content, p.file.clone()));
            for u in &used {
                if !f.depends_on.contains(u) {
                    f.depends_on.push(u.clone());
                }
            }
            f.through_peers = used;
            break;
        }
        f.routes = adopt::routes(root, &files, &dir);
        let code = adopt::python(root, &files, &dir);
        for d in f.depends_on.clone() {
            // How its code names the dependency: quoted (a peers entry, a host), or the
            // variable compose hands it the address in.
            let mut needles = vec![format!("'{d}'"), format!("\"{d}\"")];
            let addresses = [format!("//{d}:"), format!("//{d}/")];
            needles.extend(
                f.env
                    .iter()
                    .filter(|(_, v)| *v == d || addresses.iter().any(|a| v.contains(a)))
                    .map(|(k, _)| k.clone()),
            );
            if let Some(at) = fallback::only_after_errors(&code, &needles) {
                f.fallbacks.push((d, at));
            }
        }
    }
    // An OpenAPI description belongs to the service whose own folder (or context of its own)
    // holds it, else to the one entry service.
    let entries: Vec<usize> = (0..found.len())
        .filter(|&i| found[i].published || !found.iter().any(|x| x.depends_on.contains(&found[i].name)))
        .collect();
    for (file, routes) in adopt::openapi(root, &files) {
        let holds = |f: &Found| {
            let dir = f.own.as_deref().or(f.build.as_deref().filter(|b| *b != "." && contexts_unique(&contexts, b)));
            dir.is_some_and(|d| file.starts_with(&format!("{d}/")))
        };
        let owner = found.iter().position(holds).or_else(|| (entries.len() == 1).then(|| entries[0]));
        let Some(f) = owner.map(|i| &mut found[i]) else { continue };
        for r in routes {
            match f.routes.iter_mut().find(|x| x.method == r.method && x.path == r.path) {
                Some(x) => x.body = x.body.take().or(r.body),
                None => f.routes.push(r),
            }
        }
        // A route matched by hand that the description spells out is no TODO any more.
        let spelled: Vec<(String, String)> =
            f.routes.iter().filter(|r| !r.by_hand).map(|r| (r.method.clone(), r.path.clone())).collect();
        f.routes.retain(|r| {
            let prefix = r.path.trim_end_matches('…');
            !r.by_hand || !spelled.iter().any(|(m, p)| *m == r.method && p.starts_with(prefix))
        });
        f.openapi.get_or_insert(file);
    }
}

/// Whether one service alone is built from `context`.
fn contexts_unique(contexts: &[Option<String>], context: &str) -> bool {
    contexts.iter().filter(|c| c.as_deref() == Some(context)).count() == 1
}

/// What `faultline init` reads of an OpenAPI description's text: `METHOD path` of each
/// operation, with its example body. Public for the fuzzer.
pub fn openapi_requests(text: &str) -> Vec<String> {
    openapi::routes(text, "openapi")
        .into_iter()
        .map(|r| format!("{} {}{}", r.method, r.path, r.body.map(|b| format!(" {b}")).unwrap_or_default()))
        .collect()
}

/// What `faultline init` reads of one Python file's text: its routes (`METHOD path`, `…` for
/// one matched by hand), and the lines naming each of `dependencies` (quoted) with how an
/// error leads there (see `fallback`). Public for the fuzzer.
pub fn python_findings(text: &str, dependencies: &[String]) -> (Vec<String>, Vec<(usize, Option<String>)>) {
    let routes = adopt::routes_in(text, "app.py").into_iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let needles: Vec<String> = dependencies.iter().map(|d| format!("'{d}'")).collect();
    (routes, fallback::calls(text, &needles))
}

/// A health endpoint of `f`'s routes: liveness (`true`) or readiness.
fn health_of(f: &Found, live: bool) -> Option<&str> {
    f.routes.iter().find(|r| r.method == "GET" && adopt::health(&r.path) == Some(live)).map(|r| r.path.as_str())
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
                let glob = match &f.own {
                    Some(own) => format!("{own}/**"),
                    None if b == "." => "**".to_owned(),
                    None => format!("{b}/**"),
                };
                let _ = writeln!(o, "    paths: [\"{glob}\"]");
                let _ = writeln!(o, "    build: {b}");
                if let Some(d) = &f.dockerfile {
                    let _ = writeln!(o, "    dockerfile: {d}");
                }
                if !f.build_args.is_empty() {
                    let args: Vec<String> = f.build_args.iter().map(|(k, v)| format!("{k}: {}", json(v))).collect();
                    let _ = writeln!(o, "    build_args: {{ {} }}", args.join(", "));
                }
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
            match health_of(f, true) {
                Some(h) => {
                    let _ = writeln!(o, "    ready: {{ http: {h} }}");
                    let _ = writeln!(
                        o,
                        "    liveness: {{ http: {h} }}   # TODO: it must not ask the dependencies; check that it does not"
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "    ready: {{ tcp: {} }}   # better: {{ http: /health }} or {{ log: \"ready\" }}",
                        f.ports[0]
                    );
                }
            }
            if let Some(h) = health_of(f, false) {
                let _ = writeln!(o, "    readiness: {{ http: {h} }}");
            }
        }
        if let Some((target, content, source)) = &f.peers_file {
            let _ = writeln!(o, "    # its peers, from {source}, each through the proxy of its edge");
            let _ = writeln!(o, "    files:\n      {target}: {{ content: {} }}", json(content));
        }
        render_deps(&mut o, f, found);
    }
    let _ = writeln!(
        o,
        "policy:\n  tiers:\n    high: []      # TODO: paths whose changes need every scenario and a senior"
    );
    let _ = writeln!(
        o,
        "    low: [\"**/*.md\", \"docs/**\"]\n  seniors: []      # TODO: who may sign off\nscenarios: scenarios/"
    );
    render_workloads(&mut o, found);
    o
}

/// The `depends_on` of `f`: how each edge is wired, what init could not tell, and a comment
/// on an edge that looks like a fallback.
fn render_deps(o: &mut String, f: &Found, found: &[Found]) {
    let deps: Vec<&Found> = f.depends_on.iter().filter_map(|d| found.iter().find(|x| &x.name == d)).collect();
    if !deps.is_empty() {
        let _ = writeln!(o, "    depends_on:");
        for d in deps {
            if let Some((_, fb)) = f.fallbacks.iter().find(|(n, _)| *n == d.name) {
                let _ = writeln!(
                    o,
                    "      # {} looks like a fallback: {} calls it only after an error ({}, {}).\n      \
                     # Exploration's reference leaves it idle; it is faulted while the fault that makes {} call it\n      \
                     # is on. Not `optional: true`: when both fail, an error answer is fair",
                    d.name, f.name, fb.at, fb.how, f.name
                );
            }
            if f.through_peers.contains(&d.name) {
                let _ = writeln!(o, "      {}: {{}}   # through its peers file", d.name);
                continue;
            }
            if let (Some(alias), Some(port)) = (d.aliases.first(), d.ports.first()) {
                let _ = writeln!(
                    o,
                    "      {}: {{ host: {alias}, client_port: {port} }}   # TODO: no variable or peers file names it, \
                     so it is likely called at an address handed out in a response (its alias {alias}); \
                     add `optional: true` if {} works without it",
                    d.name, f.name
                );
                continue;
            }
            let (env, url) = url_for(d);
            let _ = writeln!(
                o,
                "      {}: {{ env: {env}, url: \"{url}\" }}   # TODO: the variable {} reads",
                d.name, f.name
            );
        }
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `explore.workloads` for the entry services (published, or that nothing depends on) with
/// routes found, each request with a TODO for what init cannot know; a route matched by hand
/// is a TODO of its own, with where. With no request to propose, the section is a comment.
fn render_workloads(o: &mut String, found: &[Found]) {
    let entries: Vec<&Found> = found
        .iter()
        .filter(|f| f.published || !found.iter().any(|x| x.depends_on.contains(&f.name)))
        .filter(|f| f.routes.iter().any(|r| adopt::health(&r.path).is_none()) && !f.ports.is_empty())
        .collect();
    if entries.is_empty() {
        return;
    }
    let blocks: Vec<(bool, String)> = entries.iter().map(|f| workload(f)).collect();
    let any = blocks.iter().any(|(requests, _)| *requests);
    let _ = writeln!(o, "{}", if any { "explore:\n  workloads:" } else { "# explore:\n#   workloads:" });
    for (requests, block) in blocks {
        for line in block.lines() {
            // A service with no request to propose is a comment, so the list is never empty.
            let _ = writeln!(o, "{}{line}", if requests { "" } else { "# " });
        }
    }
}

/// One entry service's workload: whether it has a request, and its lines.
fn workload(f: &Found) -> (bool, String) {
    let mut o = String::new();
    let _ = writeln!(o, "    {}:", f.name);
    if let Some(spec) = &f.openapi {
        let _ = writeln!(o, "      # requests from its routes and {spec}");
    }
    let routes = f.routes.iter().filter(|r| adopt::health(&r.path).is_none());
    let (hand, routes): (Vec<&adopt::Route>, Vec<&adopt::Route>) = routes.partition(|r| r.by_hand);
    for r in &hand {
        let _ = writeln!(
            o,
            "      # TODO: {} {} is matched by hand at {}, so init cannot tell the rest of its path; for example\n      \
             # - request: {} {} {}\n      #   expect: {{ status: [200, 503], within: 3s }}",
            r.method,
            r.path,
            r.at,
            r.method,
            f.name,
            r.path.replace('…', "ID")
        );
    }
    for r in routes.iter().take(6) {
        let mut path = String::new();
        let mut param = false;
        for seg in r.path.split('/').skip(1) {
            let p = seg.starts_with('<') || seg.starts_with('{') || seg.starts_with(':');
            param |= p;
            path.push('/');
            path.push_str(if p { "1" } else { seg });
        }
        let _ = writeln!(o, "      # found at {}{}", r.at, if param { "; TODO: an id that exists" } else { "" });
        let _ = writeln!(o, "      - request: {} {} {path}", r.method, f.name);
        match &r.body {
            Some(b) => {
                let _ = writeln!(o, "        body: {b}   # its example");
            }
            None if r.method != "GET" && r.method != "DELETE" => {
                let _ = writeln!(o, "        body: {{}}   # TODO: a body it accepts");
            }
            None => {}
        }
        let _ = writeln!(
            o,
            "        expect: {{ status: [200, 201, 202, 503], within: 3s }}   # TODO: what is acceptable under any fault"
        );
    }
    (!routes.is_empty(), o)
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
    let mut found = found;
    adopt_pass(root, &mut found);
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
