//! One GET of JSON from a code host's API, over HTTPS (rustls, the system's roots) or plain
//! HTTP (a self-hosted instance on the runner's network, or a test server).

use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;

use super::ApiError;

/// How long one API call may take before the approvals count as unreadable.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The most a reply may weigh: a list of reviews, not a download.
const MAX_BODY: usize = 8 << 20;

/// A reply: its JSON, the `rel="next"` page of its `Link` header, and GitLab's
/// `x-next-page` (a page number, empty on the last page), if any.
pub(crate) struct Reply {
    pub json: serde_json::Value,
    pub next: Option<String>,
    pub next_page: Option<String>,
}

/// A client for HTTPS (the system's roots) and plain HTTP, made once per code-host call.
pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

pub(crate) fn client() -> Result<Client, ApiError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(ApiError::TlsRoots)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

/// GETs `url` with `headers`; anything but a 2xx JSON reply is an error that says what came.
pub(crate) async fn get_json(client: &Client, url: &str, headers: &[(&str, String)]) -> Result<Reply, ApiError> {
    let uri: hyper::Uri = url.parse().map_err(|source| ApiError::NotAUrl { url: url.to_owned(), source })?;
    let mut req = hyper::Request::get(uri)
        .header("accept", "application/json")
        .header("user-agent", concat!("faultline/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Empty::new()).map_err(|source| ApiError::Request { url: url.to_owned(), source })?;
    let call = async {
        let resp =
            client.request(req).await.map_err(|e| ApiError::Call { url: url.to_owned(), reason: error_chain(&e) })?;
        let status = resp.status();
        let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link);
        let next_page = resp
            .headers()
            .get("x-next-page")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
            .filter(|v| !v.is_empty());
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| ApiError::Call { url: url.to_owned(), reason: format!("reading the reply: {e}") })?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
            return Err(ApiError::Status { url: url.to_owned(), status, body: text.trim().to_owned() });
        }
        let json = serde_json::from_slice(&body).map_err(|source| ApiError::NotJson { url: url.to_owned(), source })?;
        Ok(Reply { json, next, next_page })
    };
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| ApiError::Timeout { url: url.to_owned(), secs: CALL_TIMEOUT.as_secs() })?
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The `rel="next"` URL of an RFC 8288 `Link` header (GitHub's pagination).
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let rel_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        rel_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_page_is_found_in_a_link_header() {
        let h = r#"<https://api.github.com/repositories/1/pulls/2/reviews?page=2>; rel="next", <https://api.github.com/repositories/1/pulls/2/reviews?page=5>; rel="last""#;
        assert_eq!(
            super::next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/pulls/2/reviews?page=2")
        );
        assert_eq!(super::next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }
}
