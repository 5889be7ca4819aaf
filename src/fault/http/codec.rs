//! HTTP/1.1 framing, enough to forward messages byte for byte: where a head ends, how long
//! the body is (Content-Length, chunked, until close), and whether the connection stays open.
//! Heads are parsed with `httparse`, the parser hyper uses; bytes are never re-serialised.

/// Heads larger than this are not HTTP we can judge: the connection becomes a plain tunnel.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLen {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    pub method: String,
    pub path: String,
    pub len: usize,
    pub body: BodyLen,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// CONNECT or an Upgrade request: after the exchange the connection is a tunnel.
    pub tunnel: bool,
    /// The value of the first of the wanted request-id headers present.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    pub status: u16,
    pub len: usize,
    pub body: BodyLen,
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parse<T> {
    Done(T),
    Partial,
    Invalid(FramingError),
}

/// Bytes that are not HTTP/1.1 we can frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("{0}")]
    Head(httparse::Error),
    #[error("request head too large")]
    RequestTooLarge,
    #[error("response head too large")]
    ResponseTooLarge,
    #[error("request with a Transfer-Encoding other than chunked")]
    RequestUntilClose,
    #[error("invalid Content-Length `{0}`")]
    ContentLength(String),
    #[error("conflicting Content-Length headers")]
    ContentLengths,
    #[error("chunk line too long")]
    ChunkLine,
    #[error("missing CRLF after chunk data")]
    ChunkEnd,
    #[error("invalid chunk size `{0}`")]
    ChunkSize(String),
}

fn header_value<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    header_value(headers, name)
        .flat_map(|v| v.split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The body length from Transfer-Encoding and Content-Length (RFC 9112 §6.3).
fn body_len(headers: &[httparse::Header<'_>], otherwise: BodyLen) -> Result<BodyLen, FramingError> {
    let te: Vec<&[u8]> = header_value(headers, "transfer-encoding").collect();
    if !te.is_empty() {
        let last = te.last().and_then(|v| v.split(|b| *b == b',').next_back()).map(|t| t.trim_ascii());
        return Ok(if last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")) {
            BodyLen::Chunked
        } else {
            BodyLen::UntilClose
        });
    }
    let mut len: Option<u64> = None;
    for v in header_value(headers, "content-length") {
        let n = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| FramingError::ContentLength(String::from_utf8_lossy(v).into_owned()))?;
        if len.is_some_and(|l| l != n) {
            return Err(FramingError::ContentLengths);
        }
        len = Some(n);
    }
    Ok(match len {
        Some(0) => BodyLen::None,
        Some(n) => BodyLen::Length(n),
        None => otherwise,
    })
}

/// Parses a request head; `id_headers` (lowercase) name the headers that identify a request
/// across retries, in order of preference.
pub(crate) fn parse_request(buf: &[u8], id_headers: &[String]) -> Parse<RequestHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parse::Partial,
        Ok(httparse::Status::Partial) => return Parse::Invalid(FramingError::RequestTooLarge),
        Err(e) => return Parse::Invalid(FramingError::Head(e)),
    };
    let method = req.method.unwrap_or_default().to_owned();
    let version = req.version.unwrap_or(1);
    let body = match body_len(req.headers, BodyLen::None) {
        // A request without a length has no body (RFC 9112 §6.3 rule 7).
        Ok(BodyLen::UntilClose) => return Parse::Invalid(FramingError::RequestUntilClose),
        Ok(b) => b,
        Err(e) => return Parse::Invalid(e),
    };
    let keep_alive = if version == 0 {
        has_token(req.headers, "connection", "keep-alive")
    } else {
        !has_token(req.headers, "connection", "close")
    };
    Parse::Done(RequestHead {
        tunnel: method.eq_ignore_ascii_case("CONNECT") || header_value(req.headers, "upgrade").next().is_some(),
        expect_continue: header_value(req.headers, "expect").any(|v| v.eq_ignore_ascii_case(b"100-continue")),
        path: req.path.unwrap_or_default().to_owned(),
        request_id: id_headers
            .iter()
            .find_map(|name| header_value(req.headers, name).next())
            .map(|v| String::from_utf8_lossy(v).into_owned()),
        method,
        len,
        body,
        keep_alive,
    })
}

/// Parses a response head to a request with `method`.
pub(crate) fn parse_response(buf: &[u8], method: &str) -> Parse<ResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parse::Partial,
        Ok(httparse::Status::Partial) => return Parse::Invalid(FramingError::ResponseTooLarge),
        Err(e) => return Parse::Invalid(FramingError::Head(e)),
    };
    let status = res.code.unwrap_or(0);
    let version = res.version.unwrap_or(1);
    let no_body = method.eq_ignore_ascii_case("HEAD") || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if no_body {
        BodyLen::None
    } else {
        match body_len(res.headers, BodyLen::UntilClose) {
            Ok(b) => b,
            Err(e) => return Parse::Invalid(e),
        }
    };
    let keep_alive = body != BodyLen::UntilClose
        && if version == 0 {
            has_token(res.headers, "connection", "keep-alive")
        } else {
            !has_token(res.headers, "connection", "close")
        };
    Parse::Done(ResponseHead { status, len, body, keep_alive })
}

/// Tracks a chunked body as its bytes go by, without copying them.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, PartialEq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

impl Chunked {
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes as much of `input` as belongs to the body; returns how many bytes.
    pub(crate) fn advance(&mut self, input: &[u8]) -> Result<usize, FramingError> {
        let mut i = 0;
        while i < input.len() && self.state != ChunkState::Done {
            match self.state {
                ChunkState::Data(left) => {
                    let n = left.min((input.len() - i) as u64);
                    i += n as usize;
                    self.state = if n == left { ChunkState::DataEnd } else { ChunkState::Data(left - n) };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let b = input[i];
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() >= 4096 {
                            return Err(FramingError::ChunkLine);
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err(FramingError::ChunkEnd),
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => {
                            let hex = line.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
                            let size = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u64::from_str_radix(h, 16).ok())
                                .ok_or_else(|| FramingError::ChunkSize(String::from_utf8_lossy(hex).into_owned()))?;
                            if size == 0 { ChunkState::Trailer } else { ChunkState::Data(size) }
                        }
                    };
                }
                ChunkState::Done => unreachable!("loop condition"),
            }
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_framing() {
        let msg = b"POST /charges?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nIdempotency-Key: k1\r\n\r\nhello";
        let ids = ["idempotency-key".to_owned()];
        let Parse::Done(h) = parse_request(msg, &ids) else { panic!() };
        assert_eq!(
            (h.method.as_str(), h.path.as_str(), h.body, h.keep_alive),
            ("POST", "/charges?x=1", BodyLen::Length(5), true)
        );
        assert_eq!(&msg[h.len..], b"hello");
        assert_eq!(h.request_id.as_deref(), Some("k1"));
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", &ids), Parse::Partial));
        assert!(matches!(parse_request(b"\x00\x01garbage\r\n\r\n", &ids), Parse::Invalid(_)));
        let Parse::Done(h) = parse_request(b"GET / HTTP/1.0\r\n\r\n", &ids) else { panic!() };
        assert!(!h.keep_alive);
        assert!(matches!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &ids),
            Parse::Invalid(_)
        ));
    }

    #[test]
    fn response_framing() {
        let Parse::Done(r) = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET") else {
            panic!()
        };
        assert_eq!(r.body, BodyLen::Chunked);
        let Parse::Done(r) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD") else { panic!() };
        assert_eq!(r.body, BodyLen::None);
        let Parse::Done(r) = parse_response(b"HTTP/1.1 200 OK\r\n\r\n", "GET") else { panic!() };
        assert_eq!((r.body, r.keep_alive), (BodyLen::UntilClose, false));
        let Parse::Done(r) = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", "DELETE") else { panic!() };
        assert_eq!(r.body, BodyLen::None);
    }

    #[test]
    fn chunked_bodies_end_exactly() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut c = Chunked::default();
        let n = c.advance(body).unwrap();
        assert!(c.is_done());
        assert_eq!(&body[n..], b"NEXT");
        // Byte by byte gives the same result.
        let mut c = Chunked::default();
        let mut total = 0;
        for b in body.iter() {
            if c.is_done() {
                break;
            }
            total += c.advance(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(total, n);
        assert!(Chunked::default().advance(b"zz\r\n").is_err());
    }
}
