//! What `faultline init` reads beyond the services themselves, for a system nobody here
//! wrote: the JSON file its services find their peers in (edges, and the file to render so
//! they go through the proxies), the routes each service serves (a workload for the entry
//! services, liveness and readiness endpoints), and the names clients use for a dependency
//! (compose network aliases: an address handed out in a response).
//!
//! Everything is read bounded, from a repository faultline did not write; what cannot be
//! found is left to a TODO by the caller.

use std::path::{Path, PathBuf};

use super::detect;

/// The most bytes of one file looked at here.
const MAX_BYTES: u64 = 256 * 1024;
/// The most files read for routes and peers.
const MAX_FILES: usize = 400;

/// A peers file: a JSON object from service names to base URLs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Peers {
    /// Relative to the root.
    pub file: String,
    /// Where the services read it in their containers, when a Dockerfile copies it there or
    /// the code names it.
    pub target: Option<String>,
    /// `(name, url)` as the file lists them.
    pub entries: Vec<(String, String)>,
}

fn text(root: &Path, p: &Path) -> Option<String> {
    let bytes = crate::bounded::read(p, Some(root), MAX_BYTES).ok().flatten()?;
    String::from_utf8(bytes).ok()
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// The repository's files, as `faultline init` walks them, at most [`MAX_FILES`] of them.
pub(crate) fn files(root: &Path) -> Vec<PathBuf> {
    detect::walk(root).files.into_iter().take(MAX_FILES * 4).collect()
}

/// The JSON files under `root` that list at least one of `services` by name with an
/// `http://` URL, each with where it lands in a container.
pub(crate) fn peers_files(root: &Path, files: &[PathBuf], services: &[String]) -> Vec<Peers> {
    let mut out = Vec::new();
    for p in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let Some(t) = text(root, p) else { continue };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&t) else { continue };
        let entries: Vec<(String, String)> = map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .filter(|(_, v)| v.starts_with("http://") || v.starts_with("https://"))
            .collect();
        if entries.is_empty() || entries.len() != map.len() || !entries.iter().any(|(k, _)| services.contains(k)) {
            continue;
        }
        let file = rel(root, p);
        out.push(Peers { target: target_of(root, files, &file), file, entries });
    }
    out
}

/// Where `file` (relative to the root) lands in a container: the destination of a
/// Dockerfile's `COPY` whose source ends with it, else an absolute path ending with its
/// name that the code names.
fn target_of(root: &Path, files: &[PathBuf], file: &str) -> Option<String> {
    let name = Path::new(file).file_name()?.to_string_lossy().into_owned();
    let dockerfiles = files.iter().filter(|p| {
        let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        n == "Dockerfile" || n.ends_with(".Dockerfile") || n.starts_with("Dockerfile.")
    });
    for d in dockerfiles {
        for line in text(root, d).unwrap_or_default().lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() == 3
                && words[0].eq_ignore_ascii_case("COPY")
                && file.ends_with(words[1].trim_start_matches("./"))
                && words[2].starts_with('/')
            {
                let dst = words[2];
                return Some(if dst.ends_with('/') { format!("{dst}{name}") } else { dst.to_owned() });
            }
        }
    }
    for p in files.iter().filter(|p| is_code(p)).take(MAX_FILES) {
        let t = text(root, p).unwrap_or_default();
        for quoted in t.split(['"', '\'']).skip(1).step_by(2) {
            if quoted.starts_with('/') && quoted.ends_with(&format!("/{name}")) && !quoted.contains(char::is_whitespace)
            {
                return Some(quoted.to_owned());
            }
        }
    }
    None
}

fn is_code(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["py", "js", "ts", "go", "rb", "java", "kt"].contains(&e))
}

/// The code files of a service: under `<context>/<name>/` when its context is shared and
/// holds a folder of its name, else its whole context.
pub(crate) fn own_dir(root: &Path, context: &str, name: &str) -> Option<String> {
    let ctx = if context == "." { String::new() } else { format!("{context}/") };
    let own = format!("{ctx}{name}");
    root.join(&own).is_dir().then_some(own)
}

/// The peers of a file that `dir`'s code names (a quoted name: `peers.url('catalog')`).
pub(crate) fn peers_used(root: &Path, files: &[PathBuf], dir: &str, peers: &Peers) -> Vec<String> {
    let code: Vec<String> = files
        .iter()
        .filter(|p| is_code(p) && (dir == "." || rel(root, p).starts_with(&format!("{dir}/"))))
        .take(MAX_FILES)
        .filter_map(|p| text(root, p))
        .collect();
    peers
        .entries
        .iter()
        .map(|(k, _)| k)
        .filter(|k| code.iter().any(|t| t.contains(&format!("'{k}'")) || t.contains(&format!("\"{k}\""))))
        .cloned()
        .collect()
}

/// One route a service serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Route {
    pub method: String,
    /// The path; for a route matched by hand, its first segment and `…` (`/books/…`).
    pub path: String,
    /// `file:line` where it was found (`file: paths./x.get` in an OpenAPI description).
    pub at: String,
    /// A request body the repository gives as an example (OpenAPI), as one line of JSON.
    pub body: Option<String>,
    /// Matched by hand in a handler (`parts[0] == "books"`): the rest of its path is not
    /// known, so it is a TODO, not a request.
    pub by_hand: bool,
}

/// The Python files of `dir` (`.` for all), with their paths relative to the root.
pub(crate) fn python(root: &Path, files: &[PathBuf], dir: &str) -> Vec<(String, String)> {
    let in_dir = |p: &PathBuf| dir == "." || rel(root, p).starts_with(&format!("{dir}/"));
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "py") && in_dir(p))
        .take(MAX_FILES)
        .filter_map(|p| Some((rel(root, p), text(root, p)?)))
        .collect()
}

/// The routes `dir`'s Python code serves (see [`routes_in`]), and those of the OpenAPI
/// descriptions handed in for it.
pub(crate) fn routes(root: &Path, files: &[PathBuf], dir: &str) -> Vec<Route> {
    let mut out: Vec<Route> = python(root, files, dir).iter().flat_map(|(name, t)| routes_in(t, name)).collect();
    out.sort();
    out.dedup_by(|a, b| a.method == b.method && a.path == b.path);
    out
}

/// The OpenAPI descriptions under `root`, relative to it, each with its routes.
pub(crate) fn openapi(root: &Path, files: &[PathBuf]) -> Vec<(String, Vec<Route>)> {
    files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| super::openapi::FILE_NAMES.contains(&n.to_string_lossy().as_ref())))
        .take(MAX_FILES)
        .filter_map(|p| {
            let file = rel(root, p);
            let routes = super::openapi::routes(&text(root, p)?, &file);
            (!routes.is_empty()).then_some((file, routes))
        })
        .collect()
}

/// The routes of one Python file's text (`file` names it in `at`): Flask and FastAPI
/// decorators (`@app.route("/x", methods=["POST"])`, `@app.get("/x")`), the paths compared in
/// `http.server` handlers (`do_GET`, `do_POST`, …), and a segment compared by hand
/// (`parts[0] == "books"`) as a route matched by hand.
pub(crate) fn routes_in(t: &str, file: &str) -> Vec<Route> {
    let mut out = Vec::new();
    let mut handler: Option<String> = None;
    for (i, line) in t.lines().enumerate() {
        let l = line.trim();
        let at = format!("{file}:{}", i + 1);
        if let Some(rest) = l.strip_prefix("def do_") {
            handler = rest.split('(').next().map(str::to_owned);
            continue;
        }
        if l.starts_with("def ") && !line.starts_with("        ") {
            handler = None;
        }
        if let Some(deco) = l.strip_prefix('@') {
            let Some((target, args)) = deco.split_once('(') else { continue };
            let verb = target.rsplit('.').next().unwrap_or("");
            let Some(path) = first_quoted(args).filter(|p| p.starts_with('/')) else { continue };
            let methods: Vec<String> = match verb {
                "get" | "post" | "put" | "delete" | "patch" => vec![verb.to_ascii_uppercase()],
                "route" => {
                    let m: Vec<String> = args
                        .split_once("methods")
                        .map(|(_, m)| m.split(['"', '\'']).skip(1).step_by(2).map(str::to_ascii_uppercase).collect())
                        .unwrap_or_default();
                    if m.is_empty() { vec!["GET".to_owned()] } else { m }
                }
                _ => continue,
            };
            for method in methods {
                out.push(Route { method, path: path.clone(), at: at.clone(), body: None, by_hand: false });
            }
            continue;
        }
        if let Some(method) = &handler
            && l.contains("self.path")
        {
            for q in l.split(['"', '\'']).skip(1).step_by(2) {
                if q.starts_with('/') && q.len() > 1 && !q.contains(char::is_whitespace) && !q.contains('{') {
                    let (method, path) = (method.clone(), q.to_owned());
                    out.push(Route { method, path, at: at.clone(), body: None, by_hand: false });
                }
            }
        }
        if let Some(method) = &handler
            && let Some(segment) = by_hand(l)
        {
            let path = format!("/{segment}/…");
            out.push(Route { method: method.clone(), path, at: at.clone(), body: None, by_hand: true });
        }
    }
    out
}

/// The first segment a handler compares by hand: `parts[0] == "books"` gives `books`.
fn by_hand(l: &str) -> Option<&str> {
    let (_, rest) = l.split_once("[0] == ")?;
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let word = rest[1..].split(quote).next()?;
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))).then_some(word)
}

fn first_quoted(s: &str) -> Option<String> {
    s.split(['"', '\'']).nth(1).map(str::to_owned)
}

/// Whether a path is a health endpoint, and which: `Some(true)` liveness, `Some(false)`
/// readiness.
pub(crate) fn health(path: &str) -> Option<bool> {
    match path.trim_end_matches('/') {
        "/live" | "/livez" | "/health" | "/healthz" | "/alive" | "/ping" => Some(true),
        "/ready" | "/readyz" | "/readiness" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_flask_and_http_server_handlers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("svc")).unwrap();
        std::fs::write(
            d.path().join("svc/app.py"),
            "@app.route(\"/orders\", methods=[\"POST\", \"GET\"])\ndef o(): pass\n@bp.get('/items/<id>')\ndef i(): pass\n\
             class H:\n    def do_GET(self):\n        if self.path in (\"/health\", \"/ready\"):\n            pass\n    def do_POST(self):\n        if self.path != \"/pay\":\n            pass\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("svc/by_hand.py"),
            "class G:\n    def do_GET(self):\n        parts = self.path.split('/')\n        if len(parts) == 2 and parts[0] == \"books\":\n            pass\n",
        )
        .unwrap();
        let files = files(d.path());
        let got: Vec<(String, String, bool)> =
            routes(d.path(), &files, "svc").into_iter().map(|r| (r.method, r.path, r.by_hand)).collect();
        let want = [
            ("GET", "/books/…", true),
            ("GET", "/health", false),
            ("GET", "/items/<id>", false),
            ("GET", "/orders", false),
            ("GET", "/ready", false),
            ("POST", "/orders", false),
            ("POST", "/pay", false),
        ];
        assert_eq!(got, want.map(|(m, p, h)| (m.to_owned(), p.to_owned(), h)));
        assert_eq!(by_hand("if parts[0] == 'a b':"), None);
        assert_eq!(by_hand("if parts[0] == x:"), None);
        assert_eq!((health("/healthz"), health("/ready"), health("/orders")), (Some(true), Some(false), None));
    }
}
