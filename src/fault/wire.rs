//! The data path of one connection, shared by plain TCP edges (`conn`) and HTTP edges
//! (`http::conn`): the [`Conn`] both directions hang off, how it is ended ([`Kill`]), and a
//! [`DirWriter`] per direction.
//!
//! With no toxic on its direction a `DirWriter` writes straight through (the fast path: one
//! atomic check per chunk). When a toxic applies, it hands its chunks, stamped with their
//! arrival time, to a writer task through a bounded channel (bounded memory under slow
//! readers), which runs them through the toxics' steps. When the toxics go away it drains
//! that task and goes back to writing directly.

use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::observe::{ConnOutcome, ConnRecord};
use super::toxic::{ConnState, Cx, Direction, Step};
use super::{FaultSet, Shared};

/// Chunk size of the data path.
const CHUNK: usize = 64 * 1024;
/// Chunks buffered per direction while toxics hold data back (at most 2 MiB).
const QUEUE: usize = 32;

/// Why a connection is being ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    Reset,
    Close,
    Cut,
}

pub(crate) struct Conn {
    pub id: u64,
    pub client: Arc<TcpStream>,
    pub upstream: Arc<TcpStream>,
    pub opened: Instant,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    kill: watch::Sender<Option<Kill>>,
    /// Whether each toxic (by id) applies to this connection: drawn once, by toxicity.
    applies: Mutex<HashMap<u64, bool>>,
    pub shared: Arc<Shared>,
}

impl Conn {
    /// A connection just accepted and connected upstream.
    pub(crate) fn new(id: u64, client: TcpStream, upstream: TcpStream, opened: Instant, shared: Arc<Shared>) -> Conn {
        Conn {
            id,
            client: Arc::new(client),
            upstream: Arc::new(upstream),
            opened,
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            kill: watch::channel(None).0,
            applies: Mutex::new(HashMap::new()),
            shared,
        }
    }

    pub(crate) fn kill(&self, how: Kill) {
        self.kill.send_if_modified(|k| {
            if k.is_none() {
                *k = Some(how);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn killed(&self) -> Option<Kill> {
        *self.kill.borrow()
    }

    pub(crate) fn kill_rx(&self) -> watch::Receiver<Option<Kill>> {
        self.kill.subscribe()
    }

    fn applies(&self, id: u64, toxicity: f64) -> bool {
        if toxicity >= 1.0 {
            return true;
        }
        let mut map = self.applies.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(id).or_insert_with(|| self.shared.with_rng(|r| rand::Rng::random_bool(r, toxicity.max(0.0))))
    }

    pub(crate) fn record(&self) -> ConnRecord {
        ConnRecord {
            id: self.id,
            opened_ms: self.shared.recorder.ms(self.opened),
            closed_ms: None,
            outcome: ConnOutcome::Open,
            bytes_upstream: self.bytes_up.load(Ordering::Relaxed),
            bytes_downstream: self.bytes_down.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn counter(&self, dir: Direction) -> &AtomicU64 {
        if dir == Direction::Upstream { &self.bytes_up } else { &self.bytes_down }
    }
}

/// Reads once from `s`. Cancel-safe: nothing is consumed unless it returns.
pub(crate) async fn read(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

pub(crate) async fn write_all(s: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn shutdown_write(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).shutdown(Shutdown::Write);
}

enum Event {
    Killed,
    Changed,
    Read(io::Result<usize>),
    Readable(io::Result<()>),
}

/// Copies `src` into `w` until the end of `src` or a kill. `first` is sent before reading.
pub(crate) async fn pump(conn: &Conn, src: Arc<TcpStream>, mut w: DirWriter, first: &[u8]) -> io::Result<()> {
    let mut kill = conn.kill_rx();
    if !first.is_empty() {
        w.send(first).await?;
    }
    let mut buf = vec![0u8; CHUNK];
    // Zero-copy while no toxic applies to this direction (Linux).
    let mut pipe = super::splice::Pipe::new().ok();
    loop {
        if let Some(p) = pipe.as_ref().filter(|_| w.is_direct()) {
            let ev = tokio::select! {
                biased;
                _ = kill.changed() => Event::Killed,
                _ = w.changed() => Event::Changed,
                r = src.readable() => Event::Readable(r),
            };
            match ev {
                Event::Killed => return Ok(()),
                Event::Changed => w.sync().await?,
                Event::Readable(Err(e)) => return Err(e),
                Event::Readable(Ok(())) | Event::Read(_) => match p.fill(&src) {
                    Ok(0) => return w.eof().await,
                    Ok(n) => {
                        tokio::select! {
                            biased;
                            _ = kill.changed() => return Ok(()),
                            r = w.splice_out(p, n) => r?,
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => pipe = None,
                    Err(e) => {
                        if e.kind() == io::ErrorKind::ConnectionReset {
                            conn.kill(Kill::Reset);
                        }
                        return Err(e);
                    }
                },
            }
            continue;
        }
        let ev = tokio::select! {
            biased;
            _ = kill.changed() => Event::Killed,
            _ = w.changed() => Event::Changed,
            r = read(&src, &mut buf) => Event::Read(r),
        };
        match ev {
            Event::Killed => return Ok(()),
            Event::Changed => w.sync().await?,
            Event::Read(Ok(0)) => return w.eof().await,
            Event::Read(Ok(n)) => {
                tokio::select! {
                    biased;
                    _ = kill.changed() => return Ok(()),
                    r = w.send(&buf[..n]) => r?,
                }
            }
            Event::Readable(_) => unreachable!("only selected on the zero-copy path"),
            Event::Read(Err(e)) => {
                // A reset from one peer resets the other.
                if e.kind() == io::ErrorKind::ConnectionReset {
                    conn.kill(Kill::Reset);
                }
                return Err(e);
            }
        }
    }
}

enum Msg {
    Data(Bytes, Instant),
    Eof,
    /// Toxics are gone: stop after what is queued.
    Finish,
}

struct Slow {
    tx: mpsc::Sender<Msg>,
    task: JoinHandle<io::Result<()>>,
}

/// Writes one direction of a connection, through the active toxics.
pub(crate) struct DirWriter {
    dir: Direction,
    dst: Arc<TcpStream>,
    conn: Arc<Conn>,
    faults: watch::Receiver<Arc<FaultSet>>,
    slow: Option<Slow>,
}

impl DirWriter {
    pub(crate) fn new(conn: &Arc<Conn>, dir: Direction) -> DirWriter {
        let dst = if dir == Direction::Upstream { conn.upstream.clone() } else { conn.client.clone() };
        let mut faults = conn.shared.faults.subscribe();
        // Start in the mode the current faults ask for.
        faults.mark_changed();
        DirWriter { dir, dst, conn: conn.clone(), faults, slow: None }
    }

    /// Resolves when the faults change (never, once the edge is gone).
    pub(crate) async fn changed(&mut self) {
        if self.faults.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether data goes straight to the destination now (no toxic, no pending change).
    pub(crate) fn is_direct(&self) -> bool {
        self.slow.is_none() && !self.faults.has_changed().unwrap_or(true)
    }

    /// Moves `n` bytes from `pipe` into the destination (the zero-copy fast path).
    pub(crate) async fn splice_out(&self, pipe: &super::splice::Pipe, mut n: usize) -> io::Result<()> {
        while n > 0 {
            match pipe.drain(&self.dst, n) {
                Ok(k) => {
                    n -= k;
                    self.conn.counter(self.dir).fetch_add(k as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.dst.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Switches between writing directly and writing through toxics, as the faults say.
    pub(crate) async fn sync(&mut self) -> io::Result<()> {
        let set = self.faults.borrow_and_update().clone();
        let toxic = set.toxics_for(self.dir).any(|t| self.conn.applies(t.id, t.toxicity));
        match (toxic, self.slow.is_some()) {
            (true, false) => {
                let (tx, rx) = mpsc::channel(QUEUE);
                let task =
                    tokio::spawn(slow_writer(self.conn.clone(), self.dst.clone(), self.dir, rx, self.faults.clone()));
                self.slow = Some(Slow { tx, task });
            }
            (false, true) => {
                if let Some(slow) = self.slow.take() {
                    let _ = slow.tx.send(Msg::Finish).await;
                    slow.task.await.unwrap_or(Ok(()))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if self.faults.has_changed().unwrap_or(false) {
            self.sync().await?;
        }
        match &self.slow {
            None => {
                write_all(&self.dst, data).await?;
                self.conn.counter(self.dir).fetch_add(data.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Some(slow) => slow
                .tx
                .send(Msg::Data(Bytes::copy_from_slice(data), Instant::now()))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection ended by a fault")),
        }
    }

    /// The source ended: half-close the destination, after whatever toxics hold.
    pub(crate) async fn eof(&mut self) -> io::Result<()> {
        if self.faults.has_changed().unwrap_or(false) {
            self.sync().await?;
        }
        match self.slow.take() {
            None => {
                shutdown_write(&self.dst);
                Ok(())
            }
            Some(slow) => {
                let _ = slow.tx.send(Msg::Eof).await;
                slow.task.await.unwrap_or(Ok(()))
            }
        }
    }
}

enum SlowEvent {
    Killed,
    Msg(Option<Msg>),
    Changed,
    Deadline(Step),
}

async fn slow_writer(
    conn: Arc<Conn>,
    dst: Arc<TcpStream>,
    dir: Direction,
    mut rx: mpsc::Receiver<Msg>,
    mut faults: watch::Receiver<Arc<FaultSet>>,
) -> io::Result<()> {
    let mut kill = conn.kill_rx();
    let mut set = faults.borrow_and_update().clone();
    let mut states: HashMap<u64, ConnState> = HashMap::new();
    loop {
        let now = Instant::now();
        let active: Vec<_> = set.toxics_for(dir).filter(|t| conn.applies(t.id, t.toxicity)).collect();
        for t in &active {
            states.entry(t.id).or_insert_with(|| {
                tracing::debug!(edge = %conn.shared.name, conn = conn.id, fault = %t.name, ?dir, "fault applies");
                ConnState::new(now)
            });
        }
        let deadline = active.iter().filter_map(|t| t.toxic.deadline(&states[&t.id])).min_by_key(|d| d.0);
        let ev = tokio::select! {
            biased;
            _ = kill.changed() => SlowEvent::Killed,
            m = rx.recv() => SlowEvent::Msg(m),
            Ok(()) = faults.changed() => SlowEvent::Changed,
            _ = tokio::time::sleep_until(deadline.as_ref().map_or(now, |d| d.0).into()), if deadline.is_some() => {
                SlowEvent::Deadline(deadline.as_ref().map(|d| d.1.clone()).unwrap_or(Step::Close))
            }
        };
        let steps = match ev {
            SlowEvent::Killed | SlowEvent::Msg(None | Some(Msg::Finish)) => return Ok(()),
            SlowEvent::Changed => {
                set = faults.borrow_and_update().clone();
                continue;
            }
            SlowEvent::Deadline(step) => vec![step],
            SlowEvent::Msg(Some(Msg::Data(data, arrived))) => {
                let mut steps = vec![Step::Write(data)];
                for t in &active {
                    let state = states.get_mut(&t.id).expect("state made above");
                    steps = conn.shared.with_rng(|rng| t.toxic.on_data(steps, &mut Cx { now, arrived, state, rng }));
                }
                steps
            }
            SlowEvent::Msg(Some(Msg::Eof)) => {
                let mut steps = vec![Step::Shutdown];
                for t in &active {
                    let state = states.get_mut(&t.id).expect("state made above");
                    steps =
                        conn.shared.with_rng(|rng| t.toxic.on_eof(steps, &mut Cx { now, arrived: now, state, rng }));
                }
                execute(&conn, &dst, dir, steps, &mut kill).await?;
                return Ok(());
            }
        };
        if !execute(&conn, &dst, dir, steps, &mut kill).await? {
            return Ok(());
        }
    }
}

/// Carries out steps; returns whether the connection goes on.
async fn execute(
    conn: &Conn,
    dst: &TcpStream,
    dir: Direction,
    steps: Vec<Step>,
    kill: &mut watch::Receiver<Option<Kill>>,
) -> io::Result<bool> {
    for step in steps {
        let wait = match step {
            Step::SleepUntil(t) => Some(tokio::time::sleep_until(t.into())),
            Step::Sleep(d) => Some(tokio::time::sleep(d)),
            _ => None,
        };
        if let Some(wait) = wait {
            tokio::select! {
                biased;
                _ = kill.changed() => return Ok(false),
                _ = wait => {}
            }
            continue;
        }
        match step {
            Step::Write(b) => {
                tokio::select! {
                    biased;
                    _ = kill.changed() => return Ok(false),
                    r = write_all(dst, &b) => r?,
                }
                conn.counter(dir).fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Step::Shutdown => shutdown_write(dst),
            Step::Close => {
                conn.kill(Kill::Close);
                return Ok(false);
            }
            Step::Reset => {
                conn.kill(Kill::Reset);
                return Ok(false);
            }
            Step::SleepUntil(_) | Step::Sleep(_) => unreachable!("handled above"),
        }
    }
    Ok(true)
}
