//! Readiness: a log line, an HTTP path answering 2xx, or a TCP port that accepts and holds a
//! connection. A container that exits while starting, or a probe that never succeeds within
//! the timeout, is an error carrying the container's last log lines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testcontainers::ContainerAsync;
use testcontainers::GenericImage;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::StackError;

/// How a service says it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Ready as soon as it runs.
    Started,
    /// A line of its stdout or stderr contains this text.
    Log(String),
    /// `GET path` on this host address answers 2xx.
    Http(SocketAddr, String),
    /// This host address accepts a connection that the service holds open.
    Tcp(SocketAddr),
}

pub(crate) async fn wait(
    service: &str,
    c: &ContainerAsync<GenericImage>,
    probe: &Probe,
    timeout: Duration,
) -> Result<(), StackError> {
    let deadline = Instant::now() + timeout;
    let probing = async {
        match probe {
            Probe::Started => Ok(()),
            Probe::Log(text) => log_line(c, text).await,
            Probe::Http(addr, path) => loop {
                if http_ok(*addr, path).await {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            },
            Probe::Tcp(addr) => loop {
                if tcp_ok(*addr).await {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            },
        }
    };
    let exited = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(false) = c.is_running().await {
                return c.exit_code().await.ok().flatten();
            }
        }
    };
    let result = tokio::select! {
        r = probing => r,
        code = exited => Err(StackError::Exited { service: service.to_owned(), code, logs: logs(c).await }),
        _ = tokio::time::sleep_until(deadline.into()) => Err(StackError::NotReady {
            service: service.to_owned(),
            probe: describe(probe),
            timeout,
            logs: logs(c).await,
        }),
    };
    result
}

fn describe(p: &Probe) -> String {
    match p {
        Probe::Started => "running".into(),
        Probe::Log(t) => format!("the log line \"{t}\""),
        Probe::Http(a, p) => format!("GET {p} answering 2xx on {a}"),
        Probe::Tcp(a) => format!("a TCP connection on {a}"),
    }
}

async fn log_line(c: &ContainerAsync<GenericImage>, text: &str) -> Result<(), StackError> {
    let mut out = c.stdout(true).lines();
    let mut err = c.stderr(true).lines();
    loop {
        let line = tokio::select! {
            l = out.next_line() => l,
            l = err.next_line() => l,
        };
        match line {
            Ok(Some(l)) if l.contains(text) => return Ok(()),
            Ok(Some(_)) => {}
            // The stream ended: the container is gone; the exit watcher reports it.
            Ok(None) | Err(_) => std::future::pending::<()>().await,
        }
    }
}

async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        let status = std::str::from_utf8(&buf[..n]).ok()?.split_whitespace().nth(1)?.parse::<u16>().ok()?;
        Some((200..300).contains(&status))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten().unwrap_or(false)
}

/// Docker's port forwarder accepts every connection and closes it at once when nothing
/// listens behind it, so a TCP probe must see the connection held (or data) to pass.
async fn tcp_ok(addr: SocketAddr) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await else {
        return false;
    };
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(150), s.read(&mut b)).await {
        Err(_) => true,
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

/// The container's last log lines, stdout and stderr.
pub(crate) async fn logs(c: &ContainerAsync<GenericImage>) -> String {
    let out = c.stdout_to_vec().await.unwrap_or_default();
    let err = c.stderr_to_vec().await.unwrap_or_default();
    let mut all = String::from_utf8_lossy(&out).into_owned();
    all.push_str(&String::from_utf8_lossy(&err));
    super::image::tail(&all, 20)
}
