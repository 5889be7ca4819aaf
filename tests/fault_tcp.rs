//! The fault proxy on real loopback sockets: every connection-level fault in both
//! directions, faults changed on open connections, enable/disable, upstream changes,
//! refusals, determinism. Delays are asserted only as lower bounds, which cannot flake.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faultline::fault::observe::ConnOutcome;
use faultline::fault::{FaultSpec, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server; returns its address.
async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A server that sends `payload` on connect and then closes.
async fn sender(payload: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let p = payload.clone();
            tokio::spawn(async move {
                let _ = s.write_all(&p).await;
                let _ = s.shutdown().await;
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            });
        }
    });
    addr
}

/// A server that reads everything and reports how many bytes it got, once the peer closes.
async fn counter() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got).await;
                let _ = tx.send(got);
            });
        }
    });
    (addr, rx)
}

async fn proxy(upstream: SocketAddr) -> Proxy {
    Proxy::start(ProxyConfig::new("test -> upstream", upstream, 42)).await.unwrap()
}

fn fault(spec: &str) -> FaultSpec {
    FaultSpec::parse_compact(spec).unwrap()
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let t = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut buf = vec![0; msg.len()];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, msg);
    t.elapsed()
}

#[tokio::test]
async fn passes_bytes_unchanged_and_counts_them() {
    let p = proxy(echo().await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    s.write_all(&data).await.unwrap();
    let mut back = vec![0; data.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, data);
    drop(s);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let obs = p.observations();
    assert_eq!(obs.connections_opened, 1);
    assert_eq!(obs.bytes_upstream, 200_000);
    assert_eq!(obs.bytes_downstream, 200_000);
    assert_eq!(obs.connections[0].outcome, ConnOutcome::Closed);
}

#[tokio::test]
async fn latency_in_each_direction_and_on_an_open_connection() {
    let p = proxy(echo().await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"warm").await;
    // Added while the connection is open: it applies at once.
    p.add_spec("slow replies", &fault("latency=150ms")).unwrap();
    assert!(roundtrip(&mut s, b"ping").await >= Duration::from_millis(150));
    p.add_spec("slow replies", &fault("latency=100ms,direction=upstream")).unwrap();
    assert!(roundtrip(&mut s, b"ping").await >= Duration::from_millis(100));
    p.add_spec("slow replies", &fault("latency=80ms,direction=both")).unwrap();
    assert!(roundtrip(&mut s, b"ping").await >= Duration::from_millis(160));
    // Removed: the data path goes back to passing straight through, bytes intact.
    assert!(p.remove("slow replies"));
    roundtrip(&mut s, b"after").await;
    assert!(p.faults().is_empty());
}

#[tokio::test]
async fn latency_delays_data_sent_right_before_close() {
    let p = proxy(sender(vec![7u8; 64]).await).await;
    p.add_spec("lag", &fault("latency=100ms")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, vec![7u8; 64]);
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn bandwidth_limits_throughput_both_ways() {
    let p = proxy(echo().await).await;
    p.add_spec("thin pipe", &fault("bandwidth=10,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    // 5 KiB at 10 KiB/s takes at least ~0.4 s (the first tenth goes at once).
    let data = vec![1u8; 5 * 1024];
    assert!(roundtrip(&mut s, &data).await >= Duration::from_millis(400));
    p.add_spec("thin pipe", &fault("bandwidth=10,direction=downstream")).unwrap();
    assert!(roundtrip(&mut s, &data).await >= Duration::from_millis(400));
}

#[tokio::test]
async fn timeout_passes_nothing_then_closes() {
    let (addr, mut got) = counter().await;
    let p = proxy(addr).await;
    p.add_spec("hang", &fault("timeout=200ms,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let t = Instant::now();
    s.write_all(b"this never arrives").await.unwrap();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "the connection is closed, nothing came back");
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(got.recv().await.unwrap(), b"", "upstream received nothing");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.observations().connections[0].outcome, ConnOutcome::ClosedByFault);
}

#[tokio::test]
async fn blackhole_holds_an_idle_connection_open_and_silent() {
    let p = proxy(echo().await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"ok").await;
    p.add_spec("hang", &fault("blackhole,direction=both")).unwrap();
    s.write_all(b"hello?").await.unwrap();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    assert!(r.is_err(), "nothing comes back and the connection stays open: {r:?}");
    // Its bytes were swallowed, so the connection cannot go on: removing the fault cuts it,
    // and a new connection works.
    p.remove("hang");
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("cut at once");
    assert!(r.as_ref().map_or(true, |n| *n == 0), "the connection that lost bytes is cut: {r:?}");
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"back").await;
}

#[tokio::test]
async fn timeout_added_to_an_idle_connection_closes_it() {
    let p = proxy(echo().await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"ok").await;
    p.add_spec("cut", &fault("timeout=100ms")).unwrap();
    let mut buf = [0u8; 8];
    // No data flows, yet the fault closes the connection at its deadline.
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap_or(0), 0);
}

#[tokio::test]
async fn reset_sends_rst() {
    let p = proxy(echo().await).await;
    p.add_spec("rst", &fault("reset=0s")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let _ = s.write_all(b"boom").await;
    let mut buf = [0u8; 8];
    let err = s.read(&mut buf).await.expect_err("connection reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.observations().connections[0].outcome, ConnOutcome::Reset);
}

#[tokio::test]
async fn reset_after_a_delay_on_the_upstream_direction() {
    let p = proxy(echo().await).await;
    p.add_spec("rst", &fault("reset=150ms,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let t = Instant::now();
    s.write_all(b"x").await.unwrap();
    let mut buf = [0u8; 1];
    s.read_exact(&mut buf).await.unwrap();
    let mut rest = [0u8; 8];
    let err = s.read(&mut rest).await.expect_err("reset at the deadline");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn slicer_delivers_everything_in_small_pieces() {
    let payload: Vec<u8> = (0..100u8).collect();
    let p = proxy(sender(payload.clone()).await).await;
    p.add_spec("slices", &fault("slicer.average_size=10,slicer.size_variation=5,slicer.delay=5ms")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, payload);
    assert!(reads >= 4, "arrived in {reads} reads");
}

#[tokio::test]
async fn slicer_upstream() {
    let (addr, mut got) = counter().await;
    let p = proxy(addr).await;
    p.add_spec("slices", &fault("slicer.average_size=3,slicer.delay=1ms,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"sliced on the way up").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(got.recv().await.unwrap(), b"sliced on the way up");
}

#[tokio::test]
async fn limit_data_closes_after_n_bytes_each_way() {
    let p = proxy(sender(vec![9u8; 1000]).await).await;
    p.add_spec("limit", &fault("limit_data=300")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    assert_eq!(got.len(), 300);

    let (addr, mut up) = counter().await;
    let p = proxy(addr).await;
    p.add_spec("limit", &fault("limit_data=5,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let _ = s.write_all(b"0123456789").await;
    assert_eq!(up.recv().await.unwrap(), b"01234");
}

#[tokio::test]
async fn slow_close_delays_the_end_of_stream() {
    let p = proxy(sender(b"bye".to_vec()).await).await;
    p.add_spec("linger", &fault("slow_close=200ms")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn slow_close_upstream() {
    let (addr, mut got) = counter().await;
    let p = proxy(addr).await;
    p.add_spec("linger", &fault("slow_close=150ms,direction=upstream")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let t = Instant::now();
    s.write_all(b"done").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(got.recv().await.unwrap(), b"done");
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn refuse_resets_new_connections_only() {
    let p = proxy(echo().await).await;
    let mut open = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut open, b"before").await;
    p.add_spec("down", &fault("refuse")).unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut buf = [0u8; 4];
    let r = s.read(&mut buf).await;
    assert!(matches!(r, Ok(0)) || r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset), "{r:?}");
    roundtrip(&mut open, b"still fine").await;
    p.remove("down");
    let mut again = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut again, b"back").await;
    let obs = p.observations();
    assert_eq!(obs.connections_by_outcome.get(&ConnOutcome::Refused), Some(&1));
}

/// `down`: what a pool holds is cut when the fault applies (the dependency went away), new
/// connections are refused while it lasts, and the edge carries bytes again once it ends.
#[tokio::test]
async fn down_cuts_open_connections_and_refuses_new_ones() {
    let p = proxy(echo().await).await;
    let mut pooled = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut pooled, b"before").await;
    p.add_spec("dead", &fault("down")).unwrap();
    let mut buf = [0u8; 4];
    assert!(matches!(pooled.read(&mut buf).await, Ok(0) | Err(_)), "the open connection is cut");
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let r = s.read(&mut buf).await;
    assert!(matches!(r, Ok(0)) || r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset), "{r:?}");
    p.remove("dead");
    let mut again = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut again, b"back").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let obs = p.observations();
    assert_eq!(obs.connections_by_outcome.get(&ConnOutcome::Cut), Some(&1));
    assert_eq!(obs.connections_by_outcome.get(&ConnOutcome::Refused), Some(&1));
}

/// A held edge accepts and waits: a connection opened while its dependency is away (the
/// upstream a closed port, which an edge not held answers with a reset) is forwarded once the
/// hold is released, to where the edge points by then. What a reset does while it brings a
/// dependency back beside the services that call it.
#[tokio::test]
async fn a_held_edge_forwards_once_released_to_the_upstream_of_that_moment() {
    let away = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let p = proxy(away).await;
    p.hold(true);
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"early").await.unwrap();
    let mut buf = [0u8; 8];
    let waited = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    assert!(waited.is_err(), "neither reset nor answered while held: {waited:?}");
    p.set_upstream(echo().await);
    p.hold(false);
    let mut got = [0u8; 5];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"early");
}

#[tokio::test]
async fn disable_cuts_open_connections_and_refuses_new_ones() {
    let p = proxy(echo().await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"hi").await;
    p.set_enabled(false);
    let mut buf = [0u8; 4];
    assert!(matches!(s.read(&mut buf).await, Ok(0) | Err(_)), "open connection cut");
    let mut n = TcpStream::connect(p.addr()).await.unwrap();
    assert!(matches!(n.read(&mut buf).await, Ok(0) | Err(_)), "new connection refused");
    p.set_enabled(true);
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    roundtrip(&mut s, b"again").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let obs = p.observations();
    assert_eq!(obs.connections_by_outcome.get(&ConnOutcome::Cut), Some(&1));
    assert_eq!(obs.connections_by_outcome.get(&ConnOutcome::Refused), Some(&1));
}

#[tokio::test]
async fn upstream_can_change_at_run_time() {
    let a = sender(b"from a".to_vec()).await;
    let b = sender(b"from b".to_vec()).await;
    let p = proxy(a).await;
    let read_all = |addr| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    };
    assert_eq!(read_all(p.addr()).await, b"from a");
    p.set_upstream(b);
    assert_eq!(read_all(p.addr()).await, b"from b");
}

#[tokio::test]
async fn unreachable_upstream_resets_the_client() {
    // A port that was just free: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let p = proxy(dead).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut buf = [0u8; 4];
    let err = s.read(&mut buf).await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(p.observations().connections[0].outcome, ConnOutcome::UpstreamRefused);
}

#[tokio::test]
async fn upstream_closing_half_way_is_passed_on() {
    let p = proxy(sender(b"partial".to_vec()).await).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"partial");
}

/// Which of 40 connections a 50%-toxic reset hit, for a seed.
async fn reset_pattern(seed: u64) -> Vec<bool> {
    let p = Proxy::start(ProxyConfig::new("det", echo().await, seed)).await.unwrap();
    p.add_spec("coin", &fault("reset=0s,toxicity=0.5,direction=both")).unwrap();
    let mut hit = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        let _ = s.write_all(b"x").await;
        let mut b = [0u8; 1];
        hit.push(s.read_exact(&mut b).await.is_err());
    }
    hit
}

#[tokio::test]
async fn same_seed_same_faults() {
    let a = reset_pattern(7).await;
    let b = reset_pattern(7).await;
    let c = reset_pattern(8).await;
    assert_eq!(a, b);
    assert!(a.iter().any(|h| *h) && a.iter().any(|h| !*h), "{a:?}");
    assert_ne!(a, c, "a different seed draws differently");
}

#[tokio::test]
async fn listens_on_several_addresses_with_one_port() {
    let up = echo().await;
    let cfg = ProxyConfig::new("multi", up, 1).listen_on(&["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()]);
    let p = Proxy::start(cfg).await.unwrap();
    assert_eq!(p.addrs().len(), 2);
    assert_eq!(p.addrs()[0].port(), p.addrs()[1].port());
    for a in p.addrs() {
        let mut s = TcpStream::connect(a).await.unwrap();
        roundtrip(&mut s, b"hi").await;
    }
}

#[tokio::test]
async fn http_faults_are_rejected_on_tcp_edges_and_bad_parameters_are_explained() {
    let p = proxy(echo().await).await;
    let err = p.add_spec("x", &fault("http.status=503")).unwrap_err();
    assert!(err.to_string().contains("not an HTTP edge"), "{err}");
    let err = p.add_spec("y", &fault("bandwidth=0")).unwrap_err();
    assert!(err.to_string().contains("fault `y`: a bandwidth of 0 passes nothing"), "{err}");
}

/// How many bytes an upstream manages to push at a client that never reads.
async fn pushed_at_a_stalled_client(p: &Proxy) -> u64 {
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"go").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let n = p.observations().bytes_downstream;
    drop(s);
    n
}

/// A server that writes as much as it can, counting, once a client says something.
async fn firehose() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let w2 = written.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let w = w2.clone();
            tokio::spawn(async move {
                let mut b = [0u8; 2];
                let _ = s.read_exact(&mut b).await;
                let chunk = vec![0u8; 64 * 1024];
                while s.write_all(&chunk).await.is_ok() {
                    w.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (addr, written)
}

#[tokio::test]
async fn memory_stays_bounded_under_a_slow_reader() {
    const BOUND: u64 = 64 << 20;
    for toxic in [None, Some("latency=1ms")] {
        let (addr, written) = firehose().await;
        let p = proxy(addr).await;
        if let Some(t) = toxic {
            p.add_spec("t", &fault(t)).unwrap();
        }
        pushed_at_a_stalled_client(&p).await;
        let w = written.load(std::sync::atomic::Ordering::Relaxed);
        // Socket buffers on both hops plus at most 32 queued chunks: a few MiB, not the
        // gigabytes an unbounded buffer would take in the same time.
        assert!(w < BOUND, "{toxic:?}: the upstream pushed {w} bytes into a client that reads nothing");
        assert!(w > 0, "{toxic:?}: nothing flowed at all");
    }
}
