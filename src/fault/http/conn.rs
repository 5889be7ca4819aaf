//! An HTTP/1.1 edge connection: requests are read one at a time (keep-alive and pipelining
//! aware), checked against the HTTP rules, and either answered by a fault or forwarded byte
//! for byte; the response comes back the same way. Anything that is not HTTP we can frame
//! (garbage, an upgrade, CONNECT) turns the connection into a plain tunnel.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::codec::{self, BodyLen, Chunked, Parse, RequestHead, ResponseHead};
use super::{HttpAction, reason};
use crate::fault::observe::{RequestOutcome, RequestRecord};
use crate::fault::toxic::Direction;
use crate::fault::wire::{Conn, DirWriter, Kill, pump};

/// Why a connection stops being HTTP-handled.
enum Stop {
    Killed,
    /// The client closed (at a message boundary, or in the middle of one).
    ClientEof,
    UpstreamEof,
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Upstream,
}

struct Reader {
    s: Arc<TcpStream>,
    buf: BytesMut,
}

struct Http<'a> {
    conn: &'a Arc<Conn>,
    up: DirWriter,
    down: DirWriter,
    kill: watch::Receiver<Option<Kill>>,
    client: Reader,
    upstream: Reader,
    /// The current request's record is kept already (its client went away during a hold).
    recorded: bool,
}

pub(crate) async fn serve(conn: &Arc<Conn>) -> io::Result<()> {
    let mut h = Http {
        conn,
        up: DirWriter::new(conn, Direction::Upstream),
        down: DirWriter::new(conn, Direction::Downstream),
        kill: conn.kill_rx(),
        client: Reader { s: conn.client.clone(), buf: BytesMut::with_capacity(16 * 1024) },
        upstream: Reader { s: conn.upstream.clone(), buf: BytesMut::with_capacity(16 * 1024) },
        recorded: false,
    };
    match h.run().await {
        Ok(Tunnel::No) => Ok(()),
        Ok(Tunnel::Yes) => h.tunnel().await,
        Err(Stop::Io(e)) => Err(e),
        Err(Stop::Killed | Stop::ClientEof | Stop::UpstreamEof) => {
            // Pass the end on: the peer still connected sees the connection close.
            let _ = h.down.eof().await;
            let _ = h.up.eof().await;
            Ok(())
        }
    }
}

enum Tunnel {
    No,
    Yes,
}

enum Ev {
    Killed,
    UpChanged,
    DownChanged,
    Read(io::Result<usize>),
}

impl Http<'_> {
    fn reader(&mut self, side: Side) -> &mut Reader {
        if side == Side::Client { &mut self.client } else { &mut self.upstream }
    }

    /// Reads more from `side`; keeps the writers in step with fault changes meanwhile.
    async fn fill(&mut self, side: Side) -> Result<(), Stop> {
        loop {
            let r = if side == Side::Client { &mut self.client } else { &mut self.upstream };
            let ev = tokio::select! {
                biased;
                _ = self.kill.changed() => Ev::Killed,
                _ = self.up.changed() => Ev::UpChanged,
                _ = self.down.changed() => Ev::DownChanged,
                res = read_buf(&r.s, &mut r.buf) => Ev::Read(res),
            };
            match ev {
                Ev::Killed => return Err(Stop::Killed),
                Ev::UpChanged => self.up.sync().await?,
                Ev::DownChanged => self.down.sync().await?,
                Ev::Read(Ok(0)) => return Err(if side == Side::Client { Stop::ClientEof } else { Stop::UpstreamEof }),
                Ev::Read(Ok(_)) => return Ok(()),
                Ev::Read(Err(e)) => {
                    if e.kind() == io::ErrorKind::ConnectionReset {
                        self.conn.kill(Kill::Reset);
                    }
                    return Err(Stop::Io(e));
                }
            }
        }
    }

    /// Sends `n` buffered bytes of `from` on to the other side.
    async fn pass(&mut self, from: Side, n: usize) -> Result<(), Stop> {
        let chunk = self.reader(from).buf.split_to(n);
        let w = if from == Side::Client { &mut self.up } else { &mut self.down };
        tokio::select! {
            biased;
            _ = self.kill.changed() => Err(Stop::Killed),
            r = w.send(&chunk) => Ok(r?),
        }
    }

    /// Forwards a head of `head_len` bytes and its body; a head and a fixed-length body
    /// already in the buffer go out in one write.
    async fn message(&mut self, from: Side, head_len: usize, body: BodyLen) -> Result<(), Stop> {
        if let BodyLen::Length(n) = body {
            let buffered = (self.reader(from).buf.len() - head_len) as u64;
            let now = n.min(buffered);
            self.pass(from, head_len + now as usize).await?;
            return if now == n { Ok(()) } else { self.body(from, BodyLen::Length(n - now), false).await };
        }
        self.pass(from, head_len).await?;
        self.body(from, body, false).await
    }

    /// Forwards (or, with `discard`, swallows) a body of `len` from `from`.
    async fn body(&mut self, from: Side, len: BodyLen, discard: bool) -> Result<(), Stop> {
        let mut chunked = Chunked::default();
        let mut left = match len {
            BodyLen::None => return Ok(()),
            BodyLen::Length(n) => n,
            BodyLen::Chunked | BodyLen::UntilClose => u64::MAX,
        };
        loop {
            let avail = self.reader(from).buf.len();
            let n = match len {
                BodyLen::Chunked => chunked.advance(&self.reader(from).buf).map_err(|e| {
                    tracing::debug!(error = %e, "malformed chunked body");
                    Stop::Io(io::Error::new(io::ErrorKind::InvalidData, e))
                })?,
                _ => (left.min(avail as u64)) as usize,
            };
            if n > 0 {
                if discard {
                    let _ = self.reader(from).buf.split_to(n);
                } else {
                    self.pass(from, n).await?;
                }
                left = left.saturating_sub(n as u64);
            }
            let done = match len {
                BodyLen::Chunked => chunked.is_done(),
                BodyLen::Length(_) => left == 0,
                _ => false,
            };
            if done {
                return Ok(());
            }
            match self.fill(from).await {
                Err(Stop::UpstreamEof) if len == BodyLen::UntilClose && from == Side::Upstream => return Ok(()),
                r => r?,
            }
        }
    }

    async fn request_head(&mut self) -> Result<Option<RequestHead>, Stop> {
        loop {
            match codec::parse_request(&self.client.buf, &self.conn.shared.request_id_headers) {
                Parse::Done(h) => return Ok(Some(h)),
                Parse::Invalid(why) => {
                    tracing::debug!(edge = %self.conn.shared.name, %why, "not HTTP: passing the connection through");
                    return Ok(None);
                }
                Parse::Partial => match self.fill(Side::Client).await {
                    Err(Stop::ClientEof) if !self.client.buf.is_empty() => return Ok(None),
                    r => r?,
                },
            }
        }
    }

    async fn response_head(&mut self, method: &str) -> Result<Option<ResponseHead>, Stop> {
        loop {
            match codec::parse_response(&self.upstream.buf, method) {
                Parse::Done(h) => return Ok(Some(h)),
                Parse::Invalid(why) => {
                    tracing::debug!(edge = %self.conn.shared.name, %why, "upstream answered with something that is not HTTP");
                    return Ok(None);
                }
                Parse::Partial => self.fill(Side::Upstream).await?,
            }
        }
    }

    async fn run(&mut self) -> Result<Tunnel, Stop> {
        let shared = self.conn.shared.clone();
        loop {
            let head = match self.request_head().await {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(Tunnel::Yes),
                Err(Stop::ClientEof) => return Err(Stop::ClientEof),
                Err(e) => return Err(e),
            };
            let start = Instant::now();
            let seq = shared.recorder.next_seq();
            let request_id = head.request_id.clone();
            let attempt = request_id.as_deref().map(|id| shared.recorder.attempt(id));
            let mut record = RequestRecord {
                conn: self.conn.id,
                seq,
                method: head.method.clone(),
                path: head.path.clone(),
                status: None,
                start_ms: shared.recorder.ms(start),
                duration_ms: 0.0,
                fault: None,
                outcome: RequestOutcome::Answered,
                request_id,
                attempt,
            };

            let set = shared.faults.borrow().clone();
            let fired = set.rules.iter().find(|r| {
                r.rule.matcher.matches(&head.method, &head.path) && {
                    let n = r.matched.fetch_add(1, Ordering::Relaxed) + 1;
                    shared.with_rng(|rng| r.rule.fires(n, rng))
                }
            });
            record.fault = fired.map(|r| r.name.clone());
            let action = fired.map(|r| r.rule.action.clone());

            let result = self.exchange(&head, action, &mut record).await;
            // A client gone during a hold was recorded when it went.
            if !std::mem::take(&mut self.recorded) {
                record.duration_ms = start.elapsed().as_secs_f64() * 1e3;
                match &result {
                    Err(Stop::ClientEof) => record.outcome = RequestOutcome::ClientGone,
                    Err(Stop::UpstreamEof | Stop::Io(_)) if record.outcome == RequestOutcome::Answered => {
                        record.outcome = RequestOutcome::UpstreamFailed
                    }
                    _ => {}
                }
                shared.recorder.request(record);
            }
            match result? {
                Next::KeepAlive => continue,
                Next::Close => {
                    self.down.eof().await?;
                    self.up.eof().await?;
                    return Ok(Tunnel::No);
                }
                Next::Tunnel => return Ok(Tunnel::Yes),
                Next::Dropped => return Ok(Tunnel::No),
            }
        }
    }

    /// One request and its response.
    async fn exchange(
        &mut self,
        head: &RequestHead,
        action: Option<HttpAction>,
        record: &mut RequestRecord,
    ) -> Result<Next, Stop> {
        match action {
            Some(HttpAction::Respond { status, body, headers }) => {
                let _ = self.client.buf.split_to(head.len);
                // A client waiting for `100 Continue` sends no body after a final answer.
                let close = !head.keep_alive || head.expect_continue || head.tunnel;
                if !head.expect_continue {
                    self.body(Side::Client, head.body, true).await?;
                }
                let mut resp = format!("HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n", reason(status), body.len());
                for (k, v) in &headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                if close {
                    resp.push_str("connection: close\r\n");
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                tokio::select! {
                    biased;
                    _ = self.kill.changed() => return Err(Stop::Killed),
                    r = self.down.send(resp.as_bytes()) => r?,
                }
                record.status = Some(status);
                record.outcome = RequestOutcome::Faulted;
                return Ok(if close { Next::Close } else { Next::KeepAlive });
            }
            Some(HttpAction::Reset) => {
                // The request never reaches the dependency; the client sees a reset.
                self.conn.kill(Kill::Reset);
                record.outcome = RequestOutcome::Dropped;
                return Ok(Next::Dropped);
            }
            Some(HttpAction::Delay(d)) => self.hold(d, record).await?,
            _ => {}
        }
        let drop = match action {
            Some(HttpAction::Drop { reset }) => Some(reset),
            _ => None,
        };

        let mut resp = None;
        let mut got_continue = false;
        if head.expect_continue {
            self.pass(Side::Client, head.len).await?;
            // The body follows only after the dependency says `100 Continue`.
            let Some(r) = self.response_head(&head.method).await? else { return Ok(Next::Tunnel) };
            if r.status == 100 {
                got_continue = true;
                self.pass(Side::Upstream, r.len).await?;
                self.body(Side::Client, head.body, false).await?;
            } else {
                resp = Some(r);
            }
        } else {
            self.message(Side::Client, head.len, head.body).await?;
        }
        let resp = loop {
            let r = match resp.take() {
                Some(r) => r,
                None => match self.response_head(&head.method).await? {
                    Some(r) => r,
                    None => return Ok(Next::Tunnel),
                },
            };
            if (100..200).contains(&r.status) && r.status != 101 {
                self.pass(Side::Upstream, r.len).await?;
                continue;
            }
            break r;
        };
        record.status = Some(resp.status);

        if let Some(reset) = drop {
            // The dependency did the work; the reply is lost on the way back.
            let has_body = !matches!(resp.body, BodyLen::None);
            let n = if has_body { resp.len + (self.upstream.buf.len() - resp.len) / 2 } else { resp.len / 2 };
            self.pass(Side::Upstream, n).await?;
            self.conn.kill(if reset { Kill::Reset } else { Kill::Close });
            record.outcome = RequestOutcome::Dropped;
            return Ok(Next::Dropped);
        }

        self.pass(Side::Upstream, resp.len).await?;
        let tunnel =
            resp.status == 101 || (head.method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&resp.status));
        if tunnel {
            return Ok(Next::Tunnel);
        }
        self.body(Side::Upstream, resp.body, false).await?;
        // After a final answer to `Expect: 100-continue` without `100`, the client may or may
        // not send the body: the connection cannot be trusted to be in step, so it closes.
        let in_step = !head.expect_continue || got_continue;
        Ok(if head.keep_alive && resp.keep_alive && in_step { Next::KeepAlive } else { Next::Close })
    }

    /// Holds the request for `d` (an HTTP `delay`) while watching the client: one that closes
    /// its connection meanwhile has given up waiting (its own timeout), and `record` is kept
    /// then (`ClientGone`, after how long), not once the hold ends: observations taken
    /// meanwhile (an experiment's, when its steps end) hold it. The request is forwarded after
    /// the hold all the same, as a slow dependency would still do the work of a request whose
    /// client left. Bytes the client sends meanwhile (a pipelined request) are kept for later.
    async fn hold(&mut self, d: std::time::Duration, record: &mut RequestRecord) -> Result<(), Stop> {
        let start = Instant::now();
        let until = tokio::time::Instant::from_std(start + d);
        let mut watching = true;
        loop {
            tokio::select! {
                biased;
                _ = self.kill.changed() => return Err(Stop::Killed),
                _ = tokio::time::sleep_until(until) => return Ok(()),
                r = read_buf(&self.client.s, &mut self.client.buf), if watching => {
                    if !matches!(r, Ok(n) if n > 0) {
                        watching = false;
                        record.outcome = RequestOutcome::ClientGone;
                        record.duration_ms = self.conn.shared.recorder.ms(Instant::now()) - record.start_ms;
                        self.conn.shared.recorder.request(record.clone());
                        self.recorded = true;
                    }
                }
            }
        }
    }

    /// The rest of the connection as plain bytes, both ways, through the toxics.
    async fn tunnel(&mut self) -> io::Result<()> {
        let (up, down) = (
            std::mem::replace(&mut self.up, DirWriter::new(self.conn, Direction::Upstream)),
            std::mem::replace(&mut self.down, DirWriter::new(self.conn, Direction::Downstream)),
        );
        let (c, u) = (self.client.buf.split(), self.upstream.buf.split());
        let (a, b) = tokio::join!(
            pump(self.conn, self.client.s.clone(), up, &c),
            pump(self.conn, self.upstream.s.clone(), down, &u)
        );
        a.and(b)
    }
}

enum Next {
    KeepAlive,
    Close,
    Tunnel,
    Dropped,
}

async fn read_buf(s: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(16 * 1024);
    loop {
        s.readable().await?;
        match s.try_read_buf(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}
