//! The workload: HTTP requests through a service's ingress proxy, commands, pauses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use super::validate::RequestLine;

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

/// Runs `cmd` on the host; returns its exit code and output.
pub async fn host_exec(cmd: &[String]) -> (i64, String) {
    match tokio::process::Command::new(&cmd[0]).args(&cmd[1..]).output().await {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (i64::from(out.status.code().unwrap_or(-1)), text)
        }
        Err(e) => (-1, format!("cannot run {}: {e}", cmd[0])),
    }
}
