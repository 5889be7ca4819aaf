//! The workload: HTTP requests through a service's ingress proxy, commands, pauses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::scenario::validate::RequestLine;

/// What one request got.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `None`: no answer (connection failed, reset, or timed out).
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// Sends one request and waits at most `timeout` for the whole answer.
pub async fn send(
    addr: SocketAddr,
    line: &RequestLine,
    headers: &[(String, String)],
    body: Option<String>,
    timeout: Duration,
) -> Answer {
    let t = Instant::now();
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(line.method.as_str())
            .uri(line.path.as_str())
            .header("host", line.service.as_str());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| e.to_string())?;
        let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok::<u16, String>(status)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(status)) => Answer { status: Some(status), latency: t.elapsed(), error: None },
        Ok(Err(e)) => Answer { status: None, latency: t.elapsed(), error: Some(e) },
        Err(_) => Answer { status: None, latency: t.elapsed(), error: Some(format!("no answer within {timeout:?}")) },
    }
}

/// The headers and body of iteration `n`: `{n}` replaced.
pub fn instance(
    headers: &[(String, String)],
    body: Option<&serde_json::Value>,
    n: u32,
) -> (Vec<(String, String)>, Option<String>) {
    let hs = headers.iter().map(|(k, v)| (k.clone(), v.replace("{n}", &n.to_string()))).collect();
    (hs, body.map(|b| with_n(b, n).to_string()))
}

/// Requests started at most this many at once by a load; beyond it a request counts as
/// unanswered (the system is not keeping up).
const MAX_IN_FLIGHT: usize = 512;

/// What a load got.
pub struct LoadRun {
    pub answers: Vec<Answer>,
    /// Requests started per second, as it happened.
    pub achieved_rate: f64,
}

/// Sends `rate` requests a second for `duration` on a fixed schedule, each on its own
/// connection, without waiting for earlier answers (an open loop: a slow system gets more
/// requests in flight, as in production).
#[allow(clippy::too_many_arguments)]
pub async fn load(
    addr: SocketAddr,
    line: &RequestLine,
    headers: &[(String, String)],
    body: Option<&serde_json::Value>,
    rate: f64,
    duration: Duration,
    timeout: Duration,
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
            answers.push(Answer {
                status: None,
                latency: Duration::ZERO,
                error: Some(format!("not sent: {MAX_IN_FLIGHT} requests already waiting for an answer")),
            });
            continue;
        }
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        let (hs, b) = instance(headers, body, n);
        let line = line.clone();
        set.spawn(async move { send(addr, &line, &hs, b, timeout).await });
    }
    let sent_for = start.elapsed();
    while let Some(done) = set.join_next().await {
        answers.extend(done.ok());
    }
    let achieved_rate = if total > 1 { (total - 1) as f64 / sent_for.as_secs_f64().max(1e-9) } else { rate };
    LoadRun { answers, achieved_rate }
}

/// Replaces `{n}` in every string of a JSON value.
pub fn with_n(v: &serde_json::Value, n: u32) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace("{n}", &n.to_string())),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(|x| with_n(x, n)).collect()),
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, x)| (k.clone(), with_n(x, n))).collect())
        }
        other => other.clone(),
    }
}

/// Runs `cmd` on the host with exactly `env` as its environment; returns its exit code and
/// output.
pub async fn host_exec(cmd: &[String], env: &[(String, String)]) -> (i64, String) {
    let mut c = tokio::process::Command::new(&cmd[0]);
    c.args(&cmd[1..]).env_clear().envs(env.iter().map(|(k, v)| (k, v))).process_group(0);
    match crate::stack::host::output(c).await {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (i64::from(out.status.code().unwrap_or(-1)), text)
        }
        Err(e) => (-1, format!("cannot run {}: {e}", cmd[0])),
    }
}
