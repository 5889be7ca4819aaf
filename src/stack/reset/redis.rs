//! Redis: every key of every database dumped once (`DUMP`, with its `PTTL`), and restored on
//! every reset (`FLUSHALL`, then `RESTORE`), over the service's published port with a few
//! lines of RESP. The server keeps running.
//!
//! The fingerprint: per database, how many keys, and a hash of every key's name and `DUMP`
//! payload in key order.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::Fingerprint;

/// Why Redis could not be snapshotted, restored or fingerprinted.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("no connection to {0} within 5 s")]
    ConnectTimeout(SocketAddr),

    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },

    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("Redis did not answer within 30 s")]
    NoAnswer,

    /// An error reply to `command`.
    #[error("{command} answered: {message}")]
    Answered { command: String, message: String },

    /// A reply of another shape than `command` gives; `reply` is the reply, when shown.
    #[error("unexpected {command} reply{}", .reply.as_ref().map(|r| format!(" {r}")).unwrap_or_default())]
    Unexpected { command: &'static str, reply: Option<String> },

    #[error("more than {MAX_KEYS} keys: not a test fixture to snapshot")]
    TooManyKeys,

    #[error("the connection closed")]
    Closed,

    #[error("bad RESP length {0:?}")]
    BadLength(String),

    #[error(transparent)]
    Length(#[from] std::num::TryFromIntError),

    #[error("a reply of {0} bytes")]
    TooLong(usize),

    #[error("unexpected RESP type {0:?}")]
    UnexpectedType(char),
}

impl RedisError {
    fn unexpected(command: &'static str, reply: Option<&Reply>) -> RedisError {
        RedisError::Unexpected { command, reply: reply.map(|r| format!("{r:?}")) }
    }
}

/// More keys than this and the dataset is not a test fixture: no snapshot (fresh stacks).
const MAX_KEYS: usize = 100_000;
/// Longest a single reply may be.
const MAX_BULK: usize = 512 << 20;

/// Every key at the checkpoint: (database, key, milliseconds to live or 0, `DUMP` payload).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    keys: Vec<(u32, Vec<u8>, i64, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, RedisError> {
        let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| RedisError::ConnectTimeout(addr))?
            .map_err(|source| RedisError::Connect { addr, source })?;
        Ok(Conn { io: BufReader::new(s) })
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        let io = async {
            self.io.get_mut().write_all(&buf).await?;
            read(&mut self.io).await
        };
        let reply = tokio::time::timeout(Duration::from_secs(30), io).await.map_err(|_| RedisError::NoAnswer)??;
        match reply {
            Reply::Error(message) => {
                Err(RedisError::Answered { command: String::from_utf8_lossy(args[0]).into_owned(), message })
            }
            r => Ok(r),
        }
    }

    async fn select(&mut self, db: u32) -> Result<(), RedisError> {
        self.call(&[b"SELECT", db.to_string().as_bytes()]).await.map(drop)
    }

    /// Every key of the selected database.
    async fn keys(&mut self) -> Result<Vec<Vec<u8>>, RedisError> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let r = self.call(&[b"SCAN", &cursor, b"COUNT", b"1000"]).await?;
            let Reply::Array(parts) = r else { return Err(RedisError::unexpected("SCAN", Some(&r))) };
            let mut parts = parts.into_iter();
            let (Some(Reply::Bulk(Some(next))), Some(Reply::Array(batch))) = (parts.next(), parts.next()) else {
                return Err(RedisError::unexpected("SCAN", None));
            };
            keys.extend(batch.into_iter().filter_map(|k| if let Reply::Bulk(Some(k)) = k { Some(k) } else { None }));
            if keys.len() > MAX_KEYS {
                return Err(RedisError::TooManyKeys);
            }
            if next == b"0" {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The databases that hold keys (`INFO keyspace`).
    async fn databases(&mut self) -> Result<Vec<u32>, RedisError> {
        let r = self.call(&[b"INFO", b"keyspace"]).await?;
        let Reply::Bulk(Some(text)) = r else { return Err(RedisError::unexpected("INFO", None)) };
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.strip_prefix("db")?.split(':').next()?.parse().ok())
            .collect())
    }

    async fn dump(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, RedisError> {
        match self.call(&[b"DUMP", key]).await? {
            Reply::Bulk(payload) => Ok(payload),
            r => Err(RedisError::unexpected("DUMP", Some(&r))),
        }
    }
}

fn read(
    io: &mut BufReader<TcpStream>,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Reply, RedisError>> + Send + '_>> {
    Box::pin(async move {
        let mut line = Vec::new();
        io.read_until(b'\n', &mut line).await?;
        if line.len() < 3 {
            return Err(RedisError::Closed);
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let n = || text.parse::<i64>().map_err(|_| RedisError::BadLength(text.clone()));
        Ok(match line[0] {
            b'+' => Reply::Simple(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(n()?),
            b'$' if n()? < 0 => Reply::Bulk(None),
            b'$' => {
                let len = usize::try_from(n()?)?;
                if len > MAX_BULK {
                    return Err(RedisError::TooLong(len));
                }
                let mut data = vec![0; len + 2];
                io.read_exact(&mut data).await?;
                data.truncate(len);
                Reply::Bulk(Some(data))
            }
            b'*' if n()? < 0 => Reply::Array(Vec::new()),
            b'*' => {
                let len = usize::try_from(n()?)?.min(1 << 20);
                let mut items = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    items.push(read(io).await?);
                }
                Reply::Array(items)
            }
            other => return Err(RedisError::UnexpectedType(other as char)),
        })
    })
}

/// Dumps every key of every database.
pub(crate) async fn snapshot(addr: SocketAddr) -> Result<Snapshot, RedisError> {
    let mut c = Conn::open(addr).await?;
    let mut keys = Vec::new();
    for db in c.databases().await? {
        c.select(db).await?;
        for key in c.keys().await? {
            let Some(payload) = c.dump(&key).await? else { continue };
            let ttl = match c.call(&[b"PTTL", &key]).await? {
                Reply::Int(ms) if ms > 0 => ms,
                _ => 0,
            };
            keys.push((db, key, ttl, payload));
        }
    }
    Ok(Snapshot { keys })
}

/// Empties every database and restores the snapshot's keys.
pub(crate) async fn restore(addr: SocketAddr, snap: &Snapshot) -> Result<(), RedisError> {
    let mut c = Conn::open(addr).await?;
    c.call(&[b"FLUSHALL"]).await?;
    let mut selected = None;
    for (db, key, ttl, payload) in &snap.keys {
        if selected != Some(*db) {
            c.select(*db).await?;
            selected = Some(*db);
        }
        c.call(&[b"RESTORE", key, ttl.to_string().as_bytes(), payload, b"REPLACE"]).await?;
    }
    c.select(0).await
}

/// Per database: its number of keys and a hash of every key and value.
pub(crate) async fn fingerprint(addr: SocketAddr) -> Result<Fingerprint, RedisError> {
    let mut c = Conn::open(addr).await?;
    let mut fp = BTreeMap::new();
    for db in c.databases().await? {
        c.select(db).await?;
        let keys = c.keys().await?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for key in &keys {
            key.hash(&mut h);
            c.dump(key).await?.hash(&mut h);
        }
        fp.insert(format!("redis db {db}"), format!("{} keys, hash {:016x}", keys.len(), h.finish()));
    }
    c.select(0).await?;
    Ok(fp)
}

#[cfg(test)]
mod tests {
    use super::{RedisError, Reply};

    #[test]
    fn an_unexpected_reply_is_shown_when_there_is_one() {
        assert_eq!(RedisError::unexpected("INFO", None).to_string(), "unexpected INFO reply");
        assert_eq!(RedisError::unexpected("DUMP", Some(&Reply::Int(3))).to_string(), "unexpected DUMP reply Int(3)");
        let answered = RedisError::Answered { command: "SELECT".into(), message: "ERR DB index".into() };
        assert_eq!(answered.to_string(), "SELECT answered: ERR DB index");
    }
}
