//! Requests from an OpenAPI (or Swagger) description a repository ships: its `paths`, each
//! with its methods, and a request body where the description gives an example. `faultline
//! init` proposes them as the workload of the service the file belongs to.

use super::adopt::Route;

/// File names read as an OpenAPI description.
pub(crate) const FILE_NAMES: &[&str] =
    &["openapi.json", "openapi.yaml", "openapi.yml", "swagger.json", "swagger.yaml", "swagger.yml"];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// The routes `text` (JSON or YAML) describes, each found at `file` (`file: paths./x.get`);
/// empty when it is no OpenAPI description (no `paths` object).
pub fn routes(text: &str, file: &str) -> Vec<Route> {
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        },
    };
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else { return Vec::new() };
    let mut out = Vec::new();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with('/') && !p.contains(char::is_whitespace)) {
        let Some(item) = item.as_object() else { continue };
        for (method, op) in item.iter().filter(|(m, _)| METHODS.contains(&m.as_str())) {
            out.push(Route {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                at: format!("{file}: paths.{path}.{method}"),
                body: example_body(op),
                by_hand: false,
            });
        }
    }
    out
}

/// The JSON example of an operation's request body (OpenAPI 3's `requestBody.content.
/// application/json.example`, or the first of its `examples`; Swagger 2's body parameter's
/// `schema.example`), as one line of JSON (a YAML flow value).
fn example_body(op: &serde_json::Value) -> Option<String> {
    let media = op.pointer("/requestBody/content/application~1json");
    let example = media
        .and_then(|m| m.get("example"))
        .or_else(|| media?.get("examples")?.as_object()?.values().next()?.get("value"))
        .or_else(|| media?.pointer("/schema/example"))
        .or_else(|| {
            op.get("parameters")?
                .as_array()?
                .iter()
                .find(|p| p.get("in").and_then(|i| i.as_str()) == Some("body"))?
                .pointer("/schema/example")
        })?;
    serde_json::to_string(example).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_methods_and_example_bodies_of_openapi_3_and_swagger_2() {
        let yaml = "openapi: 3.0.0\npaths:\n  /books/{id}:\n    get: { responses: {} }\n    parameters: []\n  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            example: { book_id: \"1\", qty: 1 }\n    x-internal: true\n";
        let got: Vec<(String, String, Option<String>)> =
            routes(yaml, "openapi.yaml").into_iter().map(|r| (r.method, r.path, r.body)).collect();
        assert_eq!(
            got,
            [
                ("GET".into(), "/books/{id}".into(), None),
                ("POST".into(), "/orders".into(), Some(r#"{"book_id":"1","qty":1}"#.into()))
            ]
        );
        let swagger = r#"{"swagger":"2.0","paths":{"/pay":{"put":{"parameters":[{"in":"body","schema":{"example":{"amount":5}}}]}}}}"#;
        let r = routes(swagger, "swagger.json");
        assert_eq!((r[0].method.as_str(), r[0].body.as_deref()), ("PUT", Some(r#"{"amount":5}"#)));
        assert_eq!(r[0].at, "swagger.json: paths./pay.put");
        // Not a description: nothing.
        for t in ["", "[1, 2]", "paths: 3", "{\"paths\": {\"nope\": {\"get\": {}}}}", ":::"] {
            assert!(routes(t, "x").is_empty(), "{t}");
        }
    }
}
