//! One proxied connection: accept, connect upstream, move bytes both ways through the
//! active toxics (the data path is in `wire`), end it the way a fault or the peers say.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};

use super::observe::{ConnOutcome, ConnRecord};
use super::toxic::Direction;
use super::wire::{Conn, DirWriter, Kill, pump};
use super::{OnUpstreamRefused, Shared};

/// The longest a [held](super::Proxy::hold) connection waits before it is forwarded anyway.
pub(crate) const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(handle(shared.clone(), client));
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(edge = %shared.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn reset(s: &TcpStream) {
    let _ = s.set_zero_linger();
}

async fn handle(shared: Arc<Shared>, client: TcpStream) {
    let id = shared.next_conn();
    let opened = Instant::now();
    let end = |outcome| {
        shared.recorder.closed(ConnRecord {
            id,
            opened_ms: shared.recorder.ms(opened),
            closed_ms: Some(shared.recorder.ms(Instant::now())),
            outcome,
            bytes_upstream: 0,
            bytes_downstream: 0,
        })
    };
    let refused = !shared.enabled.load(Ordering::SeqCst) || {
        let set = shared.faults.borrow().clone();
        set.toxics.iter().any(|t| t.toxic.refuses() && shared.with_rng(|r| rand::Rng::random_bool(r, t.toxicity)))
    };
    if refused {
        reset(&client);
        return end(ConnOutcome::Refused);
    }
    if *shared.held.borrow() {
        let mut released = shared.held.subscribe();
        let _ = tokio::time::timeout(HOLD_AT_MOST, released.wait_for(|held| !*held)).await;
    }
    let addr = *shared.upstream.read().unwrap_or_else(|e| e.into_inner());
    let upstream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(edge = %shared.name, %addr, error = %e, "upstream refused");
            if shared.on_upstream_refused == OnUpstreamRefused::Reset {
                reset(&client);
            }
            return end(ConnOutcome::UpstreamRefused);
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let conn = Arc::new(Conn::new(id, client, upstream, opened, shared.clone()));
    shared.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());

    // Disabling the edge cuts every open connection.
    let mut cut = shared.cut.subscribe();
    cut.mark_unchanged();
    let cutter = {
        let conn = conn.clone();
        let mut kill = conn.kill_rx();
        tokio::spawn(async move {
            tokio::select! {
                Ok(()) = cut.changed() => conn.kill(Kill::Cut),
                _ = kill.changed() => {}
            }
        })
    };

    let result = if shared.http { super::http::conn::serve(&conn).await } else { raw(&conn).await };
    let outcome = match (conn.killed(), result) {
        (Some(Kill::Reset), _) => {
            reset(&conn.client);
            reset(&conn.upstream);
            ConnOutcome::Reset
        }
        (Some(Kill::Close), _) => ConnOutcome::ClosedByFault,
        (Some(Kill::Cut), _) => ConnOutcome::Cut,
        (None, Ok(())) => ConnOutcome::Closed,
        (None, Err(_)) => ConnOutcome::Error,
    };
    // Stop whatever still runs for this connection; the sockets close with the last handle.
    conn.kill(Kill::Close);
    cutter.abort();
    shared.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    let mut record = conn.record();
    record.closed_ms = Some(shared.recorder.ms(Instant::now()));
    record.outcome = outcome;
    shared.recorder.closed(record);
}

/// Both directions of a plain TCP edge.
async fn raw(conn: &Arc<Conn>) -> io::Result<()> {
    let up = DirWriter::new(conn, Direction::Upstream);
    let down = DirWriter::new(conn, Direction::Downstream);
    let (a, b) = tokio::join!(pump(conn, conn.client.clone(), up, &[]), pump(conn, conn.upstream.clone(), down, &[]));
    a.and(b)
}
