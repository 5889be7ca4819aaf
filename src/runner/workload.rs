//! The workload: HTTP requests through a service's ingress proxy, commands, pauses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::scenario::validate::{Body, Capture, RequestLine};

/// What one request got.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `None`: no answer (connection failed, reset, or timed out).
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<RequestError>,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The exchange failed: the handshake, the request, or the answer's body.
    #[error("{0}")]
    Exchange(hyper::Error),
    /// The request could not be made from what the step says.
    #[error("{0}")]
    Request(hyper::http::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A load that has this many requests waiting starts no more.
    #[error("not sent: {} requests already waiting for an answer", MAX_IN_FLIGHT)]
    NotSent,
}

/// What a scenario's requests share, as a browser or an API client would: the cookies each
/// service set, and the values steps captured.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// `(service, cookie name) → value`.
    cookies: std::sync::Mutex<BTreeMap<(String, String), String>>,
    vars: std::sync::Mutex<BTreeMap<String, String>>,
    /// The names the scenario's steps capture.
    names: Vec<String>,
}

impl Session {
    /// A session for steps that capture `names`.
    pub(crate) fn new(names: Vec<String>) -> Session {
        Session { names, ..Session::default() }
    }

    /// The names a step needs (`{NAME}` in `texts`, NAME one the scenario captures) that no
    /// answer has carried yet.
    pub(crate) fn missing<'a>(&self, texts: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        let vars = self.vars.lock().unwrap_or_else(|e| e.into_inner());
        self.names
            .iter()
            .filter(|n| !vars.contains_key(*n) && texts.clone().into_iter().any(|t| t.contains(&format!("{{{n}}}"))))
            .cloned()
            .collect()
    }

    /// `truth` with the captured values it names filled in; `None` while one is not captured.
    pub(crate) fn truth(&self, truth: &crate::config::truth::Truth) -> Option<crate::config::truth::Truth> {
        let vars = self.vars.lock().unwrap_or_else(|e| e.into_inner());
        truth.filled(&self.names, |n| vars.get(n).cloned())
    }

    fn cookie_header(&self, service: &str) -> Option<String> {
        let jar = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        let pairs: Vec<String> =
            jar.iter().filter(|((s, _), _)| s == service).map(|((_, k), v)| format!("{k}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the cookies of a `Set-Cookie` header; `Max-Age=0` or an empty value removes one.
    fn set_cookie(&self, service: &str, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let expired = parts.any(|a| {
            let a = a.trim().to_ascii_lowercase();
            a == "max-age=0" || a.starts_with("max-age=-")
        });
        let key = (service.to_owned(), name.trim().to_owned());
        let mut jar = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        if expired || value.trim().is_empty() {
            jar.remove(&key);
        } else {
            jar.insert(key, value.trim().to_owned());
        }
    }

    /// Keeps a captured value as `{name}`.
    pub(crate) fn set_var(&self, name: &str, value: String) {
        self.vars.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), value);
    }

    /// `text` with `{n}` and every captured `{NAME}` replaced.
    pub(crate) fn fill(&self, text: &str, n: u32) -> String {
        let mut out = text.replace("{n}", &n.to_string());
        if out.contains('{') {
            for (k, v) in self.vars.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                out = out.replace(&format!("{{{k}}}"), v);
            }
        }
        out
    }
}

/// An answer's headers and body, kept when a step captures from them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Reply {
    /// The value `from` points at, as text (a JSON string without its quotes).
    pub(crate) fn capture(&self, from: &Capture) -> Option<String> {
        match from {
            Capture::Header(h) => self.headers.iter().find(|(k, _)| k == h).map(|(_, v)| v.clone()),
            Capture::Json(p) => {
                let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
                match v.pointer(p)? {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
        }
    }
}

/// One request, ready to send: its path, headers and encoded body.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// `(content type, bytes)`.
    pub body: Option<(&'static str, String)>,
}

/// Sends one request and waits at most `timeout` for the whole answer. With a session, the
/// service's cookies go with it and the ones it sets are kept. With `keep`, the answer's
/// headers and body come back too.
pub(crate) async fn send(
    addr: SocketAddr,
    line: &RequestLine,
    req: Prepared,
    timeout: Duration,
    session: Option<&Session>,
    keep: bool,
) -> (Answer, Option<Reply>) {
    let t = Instant::now();
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(RequestError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(RequestError::Exchange)?;
        tokio::spawn(conn);
        let mut r = hyper::Request::builder()
            .method(line.method.as_str())
            .uri(req.path.as_str())
            .header("host", line.service.as_str());
        let has = |name: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        for (k, v) in &req.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        if let Some(c) = session.filter(|_| !has("cookie")).and_then(|s| s.cookie_header(&line.service)) {
            r = r.header("cookie", c);
        }
        if let Some((ctype, _)) = &req.body
            && !has("content-type")
        {
            r = r.header("content-type", *ctype);
        }
        let r =
            r.body(Full::new(Bytes::from(req.body.map(|b| b.1).unwrap_or_default()))).map_err(RequestError::Request)?;
        let resp = tx.send_request(r).await.map_err(RequestError::Exchange)?;
        let status = resp.status().as_u16();
        if let Some(s) = session {
            for v in resp.headers().get_all("set-cookie") {
                if let Ok(v) = v.to_str() {
                    s.set_cookie(&line.service, v);
                }
            }
        }
        let headers: Vec<(String, String)> = if keep {
            resp.headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect()
        } else {
            Vec::new()
        };
        let body = resp.into_body().collect().await.map_err(RequestError::Exchange)?.to_bytes();
        Ok::<(u16, Option<Reply>), RequestError>((status, keep.then_some(Reply { headers, body })))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((status, reply))) => (Answer { status: Some(status), latency: t.elapsed(), error: None }, reply),
        Ok(Err(e)) => (Answer { status: None, latency: t.elapsed(), error: Some(e) }, None),
        Err(_) => (Answer { status: None, latency: t.elapsed(), error: Some(RequestError::Timeout(timeout)) }, None),
    }
}

/// Iteration `n` of a request: `{n}` and the session's captured values filled in.
pub(crate) fn instance(
    line: &RequestLine,
    headers: &[(String, String)],
    body: Option<&Body>,
    n: u32,
    session: &Session,
) -> Prepared {
    let headers = headers.iter().map(|(k, v)| (k.clone(), session.fill(v, n))).collect();
    let body = body.map(|b| match b {
        Body::Json(v) => ("application/json", fill_json(v, n, session).to_string()),
        Body::Text(t) => ("text/plain; charset=utf-8", session.fill(t, n)),
        Body::Form(fields) => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, &session.fill(v, n));
            }
            ("application/x-www-form-urlencoded", form.finish())
        }
    });
    Prepared { path: session.fill(&line.path, n), headers, body }
}

/// The texts of a request that may name captured values: its path, header values and body.
pub(crate) fn texts(line: &RequestLine, headers: &[(String, String)], body: Option<&Body>) -> Vec<String> {
    let mut out = vec![line.path.clone()];
    out.extend(headers.iter().map(|(_, v)| v.clone()));
    match body {
        Some(Body::Json(v)) => out.push(v.to_string()),
        Some(Body::Text(t)) => out.push(t.clone()),
        Some(Body::Form(fields)) => out.extend(fields.iter().map(|(_, v)| v.clone())),
        None => {}
    }
    out
}

/// Requests started at most this many at once by a load; beyond it a request counts as
/// unanswered (the system is not keeping up).
const MAX_IN_FLIGHT: usize = 512;

/// What a load got.
pub(crate) struct LoadRun {
    pub answers: Vec<Answer>,
    /// Requests started per second, as it happened.
    pub achieved_rate: f64,
}

/// Sends `rate` requests a second for `duration` on a fixed schedule, each on its own
/// connection, without waiting for earlier answers (an open loop: a slow system gets more
/// requests in flight, as in production).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn load(
    addr: SocketAddr,
    line: &RequestLine,
    headers: &[(String, String)],
    body: Option<&Body>,
    rate: f64,
    duration: Duration,
    timeout: Duration,
    session: &std::sync::Arc<Session>,
) -> LoadRun {
    let total = ((rate * duration.as_secs_f64()).round() as u64).max(1);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut answers = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
        while let Some(done) = set.try_join_next() {
            answers.extend(done.ok());
        }
        if set.len() >= MAX_IN_FLIGHT {
            answers.push(Answer { status: None, latency: Duration::ZERO, error: Some(RequestError::NotSent) });
            continue;
        }
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        let req = instance(line, headers, body, n, session);
        let (line, session) = (line.clone(), session.clone());
        set.spawn(async move { send(addr, &line, req, timeout, Some(&session), false).await.0 });
    }
    let sent_for = start.elapsed();
    while let Some(done) = set.join_next().await {
        answers.extend(done.ok());
    }
    let achieved_rate = if total > 1 { (total - 1) as f64 / sent_for.as_secs_f64().max(1e-9) } else { rate };
    LoadRun { answers, achieved_rate }
}

/// Fills `{n}` and captured values in every string of a JSON value.
fn fill_json(v: &serde_json::Value, n: u32, session: &Session) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(session.fill(s, n)),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(|x| fill_json(x, n, session)).collect()),
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, x)| (k.clone(), fill_json(x, n, session))).collect())
        }
        other => other.clone(),
    }
}

/// Runs `cmd` of a host `exec` step as code of the change (see
/// [`crate::stack::sandbox`]), with `env` on top of what the operator passes; returns its exit
/// code and output.
pub(crate) async fn host_exec(
    code: &crate::stack::sandbox::ChangeCode<'_>,
    cmd: &[String],
    env: &[(String, String)],
) -> (i64, String) {
    let net = crate::stack::sandbox::Net::Runner;
    match code.run("a host `exec` step", cmd.to_vec(), None, env, Vec::new(), net).await {
        Ok(ran) => (ran.code.unwrap_or(-1), ran.text()),
        Err(e) => (-1, format!("cannot run {}: {e}", cmd.first().map_or("", String::as_str))),
    }
}
