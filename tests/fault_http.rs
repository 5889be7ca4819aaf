//! HTTP edges on real sockets, with a real HTTP server (hyper) behind them: per-request
//! faults (first N, every Nth, percent, by method and path), delays, replies lost after the
//! work was done, attempt counting, byte-for-byte pass-through, and bad input.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use faultline::fault::observe::RequestOutcome;
use faultline::fault::{FaultSpec, Proxy, ProxyConfig};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Seen = Arc<Mutex<Vec<String>>>;

/// A hyper server: `POST /charges` answers 201 `charged:<body length>`, anything else 200
/// with the path. Every request it handles is recorded as `METHOD path`.
async fn shop() -> (SocketAddr, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let line = format!("{} {}", req.method(), req.uri().path());
                        let post = req.method() == hyper::Method::POST;
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        seen.lock().unwrap().push(line.clone());
                        let resp = if post && line.ends_with("/charges") {
                            Response::builder()
                                .status(201)
                                .body(Full::new(Bytes::from(format!("charged:{}", body.len()))))
                        } else {
                            Response::builder().status(200).body(Full::new(Bytes::from(line)))
                        };
                        Ok::<_, Infallible>(resp.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn http_proxy(upstream: SocketAddr, seed: u64) -> Proxy {
    Proxy::start(ProxyConfig::new("orders -> payments", upstream, seed).http()).await.unwrap()
}

fn fault(spec: &str) -> FaultSpec {
    FaultSpec::parse_compact(spec).unwrap()
}

/// A keep-alive hyper client on one connection.
struct Client {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn new(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        let (tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s)).await.unwrap();
        tokio::spawn(conn);
        Client { tx }
    }

    async fn send(&mut self, method: &str, path: &str, key: Option<&str>) -> Result<(u16, String), hyper::Error> {
        let mut b = Request::builder().method(method).uri(path).header("host", "payments");
        if let Some(k) = key {
            b = b.header("Idempotency-Key", k);
        }
        let body =
            if method == "POST" { Full::new(Bytes::from_static(b"{\"amount\":100}")) } else { Full::new(Bytes::new()) };
        let resp = self.tx.send_request(b.body(body).unwrap()).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

#[tokio::test]
async fn first_n_requests_get_503_then_pass_and_attempts_are_counted() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    let mut c = Client::new(p.addr()).await;
    assert_eq!(c.send("GET", "/health", None).await.unwrap(), (200, "GET /health".into()));
    // Added with the connection open.
    p.add_spec("payments flaky", &fault("http.status=503,http.first=2,http.method=POST,http.path=/charges")).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.send("POST", "/charges", Some("order-17")).await.unwrap().0);
    }
    assert_eq!(statuses, [503, 503, 201, 201]);
    // The dependency saw only what the fault let through.
    assert_eq!(seen.lock().unwrap().iter().filter(|l| *l == "POST /charges").count(), 2);

    let obs = p.observations();
    let charges: Vec<_> = obs.requests.iter().filter(|r| r.path == "/charges").collect();
    assert_eq!(charges.iter().map(|r| r.attempt).collect::<Vec<_>>(), [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(charges.iter().map(|r| r.fault.is_some()).collect::<Vec<_>>(), [true, true, false, false]);
    assert_eq!(charges[0].outcome, RequestOutcome::Faulted);
    assert_eq!(charges[3].outcome, RequestOutcome::Answered);
    assert_eq!(obs.max_attempts(), Some(("order-17".into(), 4)));
    assert_eq!(obs.latency.as_ref().unwrap().count, 3, "answered requests: health and two charges");
}

#[tokio::test]
async fn every_nth_request_and_non_matching_requests_pass() {
    let (up, _) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("every third", &fault("http.status=500,http.every=3,http.path=/orders/*")).unwrap();
    let mut c = Client::new(p.addr()).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(c.send("GET", &format!("/orders/{i}"), None).await.unwrap().0);
    }
    assert_eq!(statuses, [200, 200, 500, 200, 200, 500]);
    assert_eq!(c.send("GET", "/health", None).await.unwrap().0, 200);
    assert_eq!(c.send("GET", "/orders/1/items", None).await.unwrap().0, 200, "`*` stays within a segment");
}

async fn percent_pattern(seed: u64) -> Vec<u16> {
    let (up, _) = shop().await;
    let p = http_proxy(up, seed).await;
    p.add_spec("coin", &fault("http.status=503,http.percent=50")).unwrap();
    let mut c = Client::new(p.addr()).await;
    let mut out = Vec::new();
    for _ in 0..30 {
        out.push(c.send("GET", "/x", None).await.unwrap().0);
    }
    out
}

#[tokio::test]
async fn percent_is_deterministic_for_a_seed() {
    let a = percent_pattern(11).await;
    assert_eq!(a, percent_pattern(11).await);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    assert_ne!(a, percent_pattern(12).await);
}

#[tokio::test]
async fn delay_holds_the_request_then_forwards_it() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("slow charge", &fault("http.delay=150ms,http.path=/charges")).unwrap();
    let mut c = Client::new(p.addr()).await;
    let t = Instant::now();
    assert_eq!(c.send("POST", "/charges", None).await.unwrap().0, 201);
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(seen.lock().unwrap().as_slice(), ["POST /charges"]);
    assert!(p.observations().requests[0].duration_ms >= 150.0);
}

/// A client that gives up during a hold (its own timeout: it closes the connection) is
/// recorded as gone, with how long it waited; the held request still reaches the dependency
/// after the hold, as a slow dependency still does the work of a request nobody waits for.
#[tokio::test]
async fn a_client_that_gives_up_during_a_hold_is_recorded_gone_after_its_wait() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("slow charge", &fault("http.delay=2s,http.path=/charges")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"POST /charges HTTP/1.1\r\nhost: payments\r\ncontent-length: 2\r\n\r\nhi").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    // The record is kept when the client goes, during the hold.
    let gave_up = Instant::now();
    while p.observations().requests.is_empty() && gave_up.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let obs = p.observations();
    assert!(seen.lock().unwrap().is_empty(), "still held: {:?}", obs.requests);
    assert_eq!(obs.requests.len(), 1, "{:?}", obs.requests);
    let r = &obs.requests[0];
    assert_eq!(r.outcome, RequestOutcome::ClientGone, "{r:?}");
    assert!(r.duration_ms >= 100.0, "it waited at least as long as the client did: {r:?}");
    assert!(obs.latency.is_none(), "no answered request to time: {:?}", obs.latency);
    while seen.lock().unwrap().is_empty() && gave_up.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.lock().unwrap().as_slice(), ["POST /charges"], "forwarded after the hold all the same");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(p.observations().requests.len(), 1, "recorded once");
}

#[tokio::test]
async fn dropped_reply_after_the_work_was_done() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("reply lost", &fault("http.drop=reset,http.first=1,http.path=/charges")).unwrap();
    let mut c = Client::new(p.addr()).await;
    assert!(c.send("POST", "/charges", Some("k")).await.is_err(), "the client never gets the reply");
    // The charge happened all the same.
    assert_eq!(seen.lock().unwrap().as_slice(), ["POST /charges"]);
    // A retry on a new connection goes through: the dependency now sees the charge twice.
    let mut c = Client::new(p.addr()).await;
    assert_eq!(c.send("POST", "/charges", Some("k")).await.unwrap().0, 201);
    let obs = p.observations();
    assert_eq!(obs.requests[0].outcome, RequestOutcome::Dropped);
    assert_eq!(obs.requests[0].status, Some(201), "what the dependency answered");
    assert_eq!(obs.max_attempts(), Some(("k".into(), 2)));
}

#[tokio::test]
async fn reset_before_the_request_reaches_the_dependency() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("reset", &fault("http.drop=before,http.first=1,http.path=/charges")).unwrap();
    let mut c = Client::new(p.addr()).await;
    assert!(c.send("POST", "/charges", Some("k")).await.is_err(), "the client gets no answer");
    // The dependency never saw it: a retry is the first charge.
    assert!(seen.lock().unwrap().is_empty());
    let mut c = Client::new(p.addr()).await;
    assert_eq!(c.send("POST", "/charges", Some("k")).await.unwrap().0, 201);
    assert_eq!(seen.lock().unwrap().as_slice(), ["POST /charges"]);
    let obs = p.observations();
    assert_eq!(obs.requests[0].outcome, RequestOutcome::Dropped);
    assert_eq!(obs.requests[0].status, None, "no answer from the dependency");
    assert_eq!(obs.max_attempts(), Some(("k".into(), 2)), "a reset request still counts as an attempt");
}

#[tokio::test]
async fn fault_response_has_body_and_headers_and_keeps_the_connection() {
    let (up, _) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("busy", &fault("http.status=503,http.first=1,http.body=busy,http.headers.retry-after=1")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("GET /b") {
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nretry-after: 1\r\n\r\nbusy"),
        "{text}"
    );
    assert!(text.contains("HTTP/1.1 200 OK"), "the pipelined second request reached the server: {text}");
}

/// An upstream that records the exact bytes it receives and answers each request with
/// `reply`, until the client closes.
async fn recording(reply: &'static [u8], per_request: usize) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arc<Mutex<Vec<u8>>> = Arc::default();
    let g2 = got.clone();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let mut answered = 0;
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            g2.lock().unwrap().extend_from_slice(&buf[..n]);
            let total = g2.lock().unwrap().len();
            while answered < total / per_request {
                s.write_all(reply).await.unwrap();
                answered += 1;
            }
        }
    });
    (addr, got)
}

#[tokio::test]
async fn non_matching_requests_pass_byte_for_byte() {
    let req1 = b"POST /charges HTTP/1.1\r\nhOsT: payments\r\nX-Weird:   spaced  \r\nContent-Length: 5\r\n\r\nhello";
    let req2 = b"PUT /charges/1 HTTP/1.1\r\nHost: payments\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    assert_eq!(req1.len(), 87);
    let reply: &'static [u8] = b"HTTP/1.1 200 OK\r\nX-ODD-Case: yes\r\nContent-Length: 2\r\n\r\nok";
    let (up, got) = recording(reply, 87).await;
    let p = http_proxy(up, 1).await;
    p.add_spec("never matches", &fault("http.status=503,http.path=/nothing/here")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(req1).await.unwrap();
    let mut back = vec![0u8; reply.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, reply);
    s.write_all(&req2[..]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut expected = req1.to_vec();
    expected.extend_from_slice(req2);
    assert_eq!(*got.lock().unwrap(), expected);
    let obs = p.observations();
    assert_eq!(obs.requests.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["POST", "PUT"]);
    assert!(obs.requests.iter().all(|r| r.fault.is_none()));
}

#[tokio::test]
async fn garbage_on_an_http_edge_passes_through() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    let p = http_proxy(addr, 1).await;
    p.add_spec("x", &fault("http.status=503")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let garbage = b"\x00\x01\x02 not http at all\r\n\r\n\xff";
    s.write_all(garbage).await.unwrap();
    let mut back = vec![0u8; garbage.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, garbage);
}

#[tokio::test]
async fn upstream_closing_mid_response_is_recorded() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial").await.unwrap();
    });
    let p = http_proxy(addr, 1).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    assert!(got.ends_with(b"partial"), "{}", String::from_utf8_lossy(&got));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.observations().requests[0].outcome, RequestOutcome::UpstreamFailed);
}

#[tokio::test]
async fn expect_continue_and_chunked_bodies_reach_a_real_server() {
    let (up, seen) = shop().await;
    let p = http_proxy(up, 1).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"POST /charges HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&buf[..n]));
    s.write_all(b"hello").await.unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("charged:5") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(
        b"POST /charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("charged:7") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn connection_toxics_apply_on_http_edges_too() {
    let (up, _) = shop().await;
    let p = http_proxy(up, 1).await;
    p.add_spec("lag", &fault("latency=120ms")).unwrap();
    let mut c = Client::new(p.addr()).await;
    let t = Instant::now();
    assert_eq!(c.send("GET", "/health", None).await.unwrap().0, 200);
    assert!(t.elapsed() >= Duration::from_millis(120));
    p.clear();
    assert_eq!(c.send("GET", "/health", None).await.unwrap().0, 200);
}
