//! The fault proxy's data path with no fault active, against direct connections, measured
//! side by side in one run on loopback:
//!
//! (a) bulk throughput over one connection (MB/s),
//! (b) round-trip latency of small messages (p50, p99) and what the proxy adds,
//! (c) HTTP requests per second over keep-alive, through an HTTP edge whose fault rule
//!     matches nothing.
//!
//! Targets: added p50 under 50 µs, throughput at least 70% of direct, HTTP at least 50% of
//! direct. Servers and clients run in one runtime, the proxy in its own, as in faultline
//! where the proxy lives in the faultline process and the services in containers.
//!
//!     cargo bench --bench proxy

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use faultline::fault::{FaultSpec, Proxy, ProxyConfig};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BULK: u64 = 512 << 20;
const BULK_RUNS: usize = 9;
const PINGS: usize = 20_000;
const HTTP_CONNS: usize = 8;
const HTTP_FOR: Duration = Duration::from_secs(2);

fn main() {
    let apps = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let proxies = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // (a) bulk
    let sink = apps.block_on(sink());
    let tcp = proxies.block_on(Proxy::start(ProxyConfig::new("bench bulk", sink, 1))).unwrap();
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    let (mut cores_d, mut cores_p) = (0.0, 0.0);
    for _ in 0..BULK_RUNS {
        let c = Cores::start();
        direct.push(apps.block_on(bulk(sink)));
        cores_d += c.used() / BULK_RUNS as f64;
        let c = Cores::start();
        proxied.push(apps.block_on(bulk(tcp.addr())));
        cores_p += c.used() / BULK_RUNS as f64;
    }
    let (d, p) = (median(&mut direct), median(&mut proxied));
    println!("(a) bulk, 512 MiB over one connection, median of {BULK_RUNS}");
    println!("    direct   {:>8.0} MB/s   using {cores_d:.2} of {} cores", d, cores());
    println!("    proxied  {:>8.0} MB/s   using {cores_p:.2} cores   ratio {:.2} (target ≥ 0.70)", p, p / d);

    // (b) round trips
    let echo = apps.block_on(echo());
    let edge = proxies.block_on(Proxy::start(ProxyConfig::new("bench rtt", echo, 1))).unwrap();
    let direct = apps.block_on(pings(echo));
    let proxied = apps.block_on(pings(edge.addr()));
    println!("(b) round trip, 64-byte messages, {PINGS} each");
    println!("    direct   p50 {:>6.1} µs   p99 {:>6.1} µs", direct.0, direct.1);
    println!("    proxied  p50 {:>6.1} µs   p99 {:>6.1} µs", proxied.0, proxied.1);
    println!(
        "    added    p50 {:>6.1} µs   p99 {:>6.1} µs (target: p50 < 50 µs)",
        proxied.0 - direct.0,
        proxied.1 - direct.1
    );

    // (c) HTTP
    let server = apps.block_on(http_server());
    let http = proxies.block_on(Proxy::start(ProxyConfig::new("bench http", server, 1).http())).unwrap();
    let never = FaultSpec::parse_compact("http.status=503,http.path=/never/matches").unwrap();
    http.add_spec("matches nothing", &never).unwrap();
    let d = apps.block_on(http_load(server));
    let p = apps.block_on(http_load(http.addr()));
    println!("(c) HTTP/1.1 keep-alive, {HTTP_CONNS} connections, {} s each", HTTP_FOR.as_secs());
    println!("    direct   {:>8.0} req/s", d);
    println!("    proxied  {:>8.0} req/s   ratio {:.2} (target ≥ 0.50)", p, p / d);
    let obs = http.observations();
    println!(
        "    the edge recorded {} requests, {} faulted",
        obs.requests.len(),
        obs.requests.iter().filter(|r| r.fault.is_some()).count()
    );
    drop((tcp, edge, http));
    drop(proxies);
    drop(apps);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time of this process (all threads) over wall time: how many cores a phase kept busy.
struct Cores {
    wall: Instant,
    cpu: Duration,
}

impl Cores {
    fn start() -> Cores {
        Cores { wall: Instant::now(), cpu: cpu_time() }
    }
    fn used(&self) -> f64 {
        (cpu_time() - self.cpu).as_secs_f64() / self.wall.elapsed().as_secs_f64()
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we pass for this process.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Reads everything; after BULK bytes, answers one byte.
async fn sink() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                while total < BULK {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total += n as u64,
                    }
                }
                let _ = s.write_all(b"!").await;
            });
        }
    });
    addr
}

/// MB/s for BULK bytes to the sink at `addr`.
async fn bulk(addr: SocketAddr) -> f64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let buf = vec![0x5au8; 256 * 1024];
    let t = Instant::now();
    let mut sent = 0u64;
    while sent < BULK {
        s.write_all(&buf).await.unwrap();
        sent += buf.len() as u64;
    }
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).await.unwrap();
    BULK as f64 / 1e6 / t.elapsed().as_secs_f64()
}

async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(s);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// (p50, p99) round trip in µs.
async fn pings(addr: SocketAddr) -> (f64, f64) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    for _ in 0..1_000 {
        s.write_all(&msg).await.unwrap();
        s.read_exact(&mut back).await.unwrap();
    }
    let mut rtts = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let t = Instant::now();
        s.write_all(&msg).await.unwrap();
        s.read_exact(&mut back).await.unwrap();
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    rtts.sort_by(f64::total_cmp);
    (rtts[PINGS / 2], rtts[PINGS * 99 / 100])
}

async fn http_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// Requests per second over HTTP_CONNS keep-alive connections for HTTP_FOR.
async fn http_load(addr: SocketAddr) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..HTTP_CONNS {
        tasks.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s)).await.unwrap();
            tokio::spawn(conn);
            let mut n = 0u64;
            while start.elapsed() < HTTP_FOR {
                let req =
                    hyper::Request::get("/orders/1").header("host", "bench").body(Full::new(Bytes::new())).unwrap();
                let resp = tx.send_request(req).await.unwrap();
                let _ = resp.into_body().collect().await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}
